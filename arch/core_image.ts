/**
 * The per-arch part of a core image: which machine (core_entry.mtype), which field holds the
 * thread state, and how to build it from what the driver read of a thread. Generic dump code
 * asks this table; it never branches on an arch name.
 */
import type { Regs } from './arch_ops.js';
import type { Arch } from '../src/sys/index.js';
import { CriuTsError } from '../src/errors.js';
import { CoreEntryMarch } from '../src/images/generated/types.js';
import type { ThreadInfoX86 } from '../src/images/generated/types.js';
import { gpregsToImage, tlsToImage, xstateToImage } from './x86_64/core_state.js';

/** What the driver read of one thread, for its thread state in the core image. */
export interface ThreadRegisters {
  regs: Regs;
  xstate: Uint8Array;
  /** The raw TLS descriptors (x86: GDT slots 12..14 via PTRACE_GET_THREAD_AREA). */
  tls: Uint8Array[];
  clearTidAddress: bigint;
}

export interface CoreImageArch {
  mtype: number;
  /** The core_entry field of the thread state. */
  field: 'thread_info' | 'ti_aarch64';
  /** TLS slots to read with PTRACE_GET_THREAD_AREA (none on aarch64: tpidr is in a regset). */
  tlsSlots: readonly number[];
  threadInfo(state: ThreadRegisters): unknown;
}

const X86_64: CoreImageArch = {
  mtype: CoreEntryMarch.X86_64,
  field: 'thread_info',
  tlsSlots: [12, 13, 14],
  threadInfo(state): ThreadInfoX86 {
    return {
      clear_tid_addr: state.clearTidAddress,
      gpregs: gpregsToImage(state.regs),
      fpregs: xstateToImage(state.xstate),
      tls: tlsToImage(state.tls),
    };
  },
};

/** The core-image table of an arch; throws DUMP_ARCH for arches whose dump is not built yet. */
export function coreImageArch(arch: Arch): CoreImageArch {
  if (arch === 'x86_64') return X86_64;
  throw new CriuTsError('DUMP_ARCH', `dumping on ${arch} is not supported yet (only x86_64)`);
}

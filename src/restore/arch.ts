/**
 * What restore needs of an architecture besides `ArchOps`, as a table: the restorer blob, the
 * machine name of its core images, a thread's registers and extended state from its image, the
 * sigframe rt_sigreturn enters through, and the registers rt_sigreturn does not restore (set with
 * ptrace before the switch). Generic restore code asks this table and never names an arch.
 */
import { gpregsFromImage, xstateFromImage } from '../../arch/x86_64/core_state.js';
import { restorerX86_64, type RestorerBlob } from '../../arch/x86_64/restorer.js';
import { buildSigframe, sigframeSize, type AltStack } from '../../arch/x86_64/sigframe.js';
import type { Regs } from '../../arch/index.js';
import type { CoreEntry } from '../images/generated/types.js';
import type { Arch } from '../sys/index.js';
import { RestoreError } from './errors.js';

/** What a thread's switch frame is built from. */
export interface FrameInput {
  regs: Regs;
  sigmask: bigint;
  xstate: Uint8Array;
  altstack?: AltStack;
  address: bigint;
}

/** The per-arch part of restore. */
export interface RestoreArch {
  blob(): RestorerBlob;
  /** The thread's general registers (NT_PRSTATUS names) from its core image. */
  threadRegs(core: CoreEntry): Regs;
  /**
   * The thread's extended state from its core image, as NT_X86_XSTATE-like bytes of `size`, with
   * the words only the live regset has (x86_64: XCR0) taken from `live`.
   */
  threadXstate(core: CoreEntry, live: Uint8Array): Uint8Array;
  /** The clear-tid address of a thread's image. */
  clearTidAddress(core: CoreEntry): bigint;
  sigframeSize(xstateSize: number): number;
  readonly frameAlign: number;
  buildFrame(input: FrameInput): { bytes: Uint8Array; sigreturnSp: bigint };
  /** Registers rt_sigreturn leaves alone, set with PTRACE_SETREGSET before it (x86_64: fs_base, gs_base). */
  readonly outsideFrame: readonly string[];
  /** The register holding the in-kernel syscall number (set to -1 so nothing restarts). */
  readonly origNr: string;
}

/** NT_X86_XSTATE keeps XCR0 in the first software-reserved word of the FXSAVE area. */
const XCR0_WORD = 464;

const X86_64: RestoreArch = {
  blob: restorerX86_64,
  threadRegs(core) {
    const ti = core.thread_info;
    if (ti === undefined) throw new RestoreError('RESTORE_UNSUPPORTED', 'The core image has no x86_64 thread state');
    return gpregsFromImage(ti.gpregs);
  },
  threadXstate(core, live) {
    const out = xstateFromImage(core.thread_info!.fpregs, live.byteLength);
    if (live.byteLength > XCR0_WORD + 8) out.set(live.subarray(XCR0_WORD, XCR0_WORD + 8), XCR0_WORD);
    return out;
  },
  clearTidAddress: (core) => core.thread_info?.clear_tid_addr ?? 0n,
  sigframeSize,
  frameAlign: 64,
  buildFrame(input) {
    const f = buildSigframe(input.altstack === undefined
      ? { regs: input.regs, sigmask: input.sigmask, xstate: input.xstate, address: input.address }
      : { regs: input.regs, sigmask: input.sigmask, xstate: input.xstate, address: input.address, altstack: input.altstack });
    return { bytes: f.bytes, sigreturnSp: f.sigreturnSp };
  },
  outsideFrame: ['fs_base', 'gs_base', 'fs', 'gs', 'ds', 'es'],
  origNr: 'orig_rax',
};

const TABLE: Readonly<Record<Arch, RestoreArch | null>> = Object.freeze({ x86_64: X86_64, aarch64: null });

/** The restore table of `arch`; RESTORE_UNSUPPORTED when there is none yet. */
export function restoreArch(arch: Arch): RestoreArch {
  const a = TABLE[arch];
  if (a === null) throw new RestoreError('RESTORE_UNSUPPORTED', `Restoring on ${arch} is not supported yet (only x86_64)`);
  return a;
}

/**
 * aarch64 as data: `struct user_pt_regs` (x0-x30, sp, pc, pstate: the `NT_PRSTATUS` regset), the
 * syscall convention (number in x8, arguments in x0-x5, result in x0; the number of the syscall a
 * task is in lives in the `NT_ARM_SYSTEM_CALL` regset, not in `NT_PRSTATUS`), `svc #0; brk #0`,
 * and the FP/SIMD regset. Not exercised on this x86_64 machine beyond its tables.
 */

import { NT } from '../../src/sys/index.js';
import { makeArchOps, type ArchOps, type ArchTable } from '../arch_ops.js';

/** `struct user_pt_regs` field names, in memory order (34 × 8 bytes). */
export const AARCH64_REG_NAMES = Object.freeze([...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'pstate']);

/** The aarch64 table. */
export const AARCH64_TABLE: ArchTable = Object.freeze({
  arch: 'aarch64',
  elfMachine: 'AARCH64',
  regNames: AARCH64_REG_NAMES,
  ip: 'pc',
  sp: 'sp',
  syscall: Object.freeze({
    nr: 'x8',
    args: ['x0', 'x1', 'x2', 'x3', 'x4', 'x5'] as const,
    ret: 'x0',
    origNr: null,
    nrRegset: NT.ARM_SYSTEM_CALL,
    insnLength: 4,
  }),
  // svc #0 (0xd4000001), then brk #0 (0xd4200000), little-endian; brk stops with pc at itself.
  syscallTrap: Uint8Array.of(0x01, 0x00, 0x00, 0xd4, 0x00, 0x00, 0x20, 0xd4),
  breakpoint: Uint8Array.of(0x00, 0x00, 0x20, 0xd4),
  trapStopOffset: 4,
  // struct user_fpsimd_state: 32 × 16-byte vregs, fpsr, fpcr, 8 reserved bytes.
  xstate: Object.freeze({ noteType: NT.PRFPREG, maxSize: 528, name: 'NT_PRFPREG' }),
  vsyscall: null,
  // TASK_SIZE is 1 << VA_BITS: 39, 42, 47, 48 or 52 bits depending on the kernel's configuration.
  taskSizes: Object.freeze([1n << 39n, 1n << 42n, 1n << 47n, 1n << 48n, 1n << 52n]),
});

/** aarch64's {@link ArchOps}. */
export const aarch64: ArchOps = makeArchOps(AARCH64_TABLE);

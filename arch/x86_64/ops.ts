/**
 * x86_64 as data: `struct user_regs_struct` (`<sys/user.h>`, the `NT_PRSTATUS` regset) in order,
 * the syscall convention (number in rax, arguments in rdi rsi rdx r10 r8 r9, result in rax,
 * `orig_rax` keeping the number of the syscall a task is in), `syscall; int3` (`0f 05 cc`), the
 * `NT_X86_XSTATE` regset and the `[vsyscall]` page. The layout test checks it against gcc.
 */

import { NT } from '../../src/sys/index.js';
import { makeArchOps, type ArchOps, type ArchTable } from '../arch_ops.js';

/** `struct user_regs_struct` field names, in memory order (27 × 8 bytes). */
export const X86_64_REG_NAMES = Object.freeze([
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8',
  'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss',
  'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const);

/** A register name of x86_64's `NT_PRSTATUS`. */
export type X86_64Reg = (typeof X86_64_REG_NAMES)[number];

const PAGE = 4096n;

/** The x86_64 table. */
export const X86_64_TABLE: ArchTable = Object.freeze({
  arch: 'x86_64',
  elfMachine: 'X86_64',
  regNames: X86_64_REG_NAMES,
  ip: 'rip',
  sp: 'rsp',
  syscall: Object.freeze({
    nr: 'rax',
    args: ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'] as const,
    ret: 'rax',
    origNr: 'orig_rax',
    nrRegset: null,
    insnLength: 2,
  }),
  // syscall (0f 05), then int3 (cc): the task traps right after the syscall returns.
  syscallTrap: Uint8Array.of(0x0f, 0x05, 0xcc),
  breakpoint: Uint8Array.of(0xcc),
  trapStopOffset: 3,
  // The XSAVE area's size depends on the CPU (2432 bytes here; AMX makes it ~11 KiB): probed.
  xstate: Object.freeze({ noteType: NT.X86_XSTATE, maxSize: 32768, name: 'NT_X86_XSTATE' }),
  vsyscall: Object.freeze({ start: 0xffffffffff600000n, end: 0xffffffffff601000n }),
  // TASK_SIZE_MAX with 4-level paging, then with 5-level (LA57).
  taskSizes: Object.freeze([(1n << 47n) - PAGE, (1n << 56n) - PAGE]),
});

/** x86_64's {@link ArchOps}. */
export const x86_64: ArchOps = makeArchOps(X86_64_TABLE);

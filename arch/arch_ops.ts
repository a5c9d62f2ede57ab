/**
 * `ArchOps`: everything generic code needs to know about one CPU architecture, asked through one
 * interface so that `src/ptrace`, `src/remote` and later `src/infect` never branch on an arch name.
 *
 * Per-arch differences are data ({@link ArchTable}: register names in `NT_PRSTATUS` order, the
 * syscall calling convention, trap bytes, regset note types); {@link makeArchOps} turns a table into
 * the codec and accessors, and each arch adds only the few functions that are real code (restart
 * fix-ups). `arch/index.ts` picks the host's.
 */

import { readFileSync } from 'node:fs';
import { isSysError, munmap, pageSize, syscallNumbers, type Arch, type SyscallName } from '../src/sys/index.js';

/**
 * General-purpose registers as the kernel's `NT_PRSTATUS` regset holds them (`user_regs_struct` on
 * x86_64, `user_pt_regs` on aarch64), one unsigned 64-bit value per named field. Generic code reads
 * and writes them only through {@link ArchOps} accessors; the names are the arch's own.
 */
export type Regs = Readonly<Record<string, bigint>>;

/** How a syscall is made on an architecture: which registers carry what. */
export interface SyscallConvention {
  /** The register holding the syscall number at entry (`rax`, `x8`). */
  nr: string;
  /** The six argument registers, in order. */
  args: readonly [string, string, string, string, string, string];
  /** The register holding the result (`rax`, `x0`). */
  ret: string;
  /**
   * The register that keeps the number of the syscall a task is in (`orig_rax`), -1 outside a
   * syscall; null when the arch keeps it outside `NT_PRSTATUS` (aarch64: `NT_ARM_SYSTEM_CALL`).
   */
  origNr: string | null;
  /** Where the number lives when it is not in {@link origNr}: a regset holding one int32. */
  nrRegset: number | null;
  /** Length in bytes of the syscall instruction (what the kernel subtracts to restart it). */
  insnLength: number;
}

/** What {@link ArchOps.restartForImage} did to a register set saved for an image. */
export type RestartFixup =
  /** Not inside a syscall, or the syscall finished: nothing to do. */
  | { kind: 'none' }
  /** `-ERESTARTSYS`/`-ERESTARTNOINTR`/`-ERESTARTNOHAND`: the syscall is re-executed (nr back, ip moved back). */
  | { kind: 'restart'; nr: number; code: string }
  /** `-ERESTART_RESTARTBLOCK`: the restart block is not saved, so the task sees `-EINTR`. */
  | { kind: 'eintr'; nr: number }
  /** The arch needs a value that is not in the regset (aarch64's `orig_x0`) and none was given. */
  | { kind: 'unknown'; nr: number; code: string };

/** What {@link ArchOps.setupSyscall} sets: the number, up to six arguments, and where to run it. */
export interface SyscallSetup {
  nr: number;
  args: readonly (bigint | number)[];
  ip: bigint;
}

/** The state of a task stopped inside a syscall, as its registers show it. */
export interface InterruptedSyscall {
  /** The syscall number (`orig_rax`). */
  nr: number;
  /** The kernel-internal restart code in the return register (`'ERESTARTSYS'`, ...), or null. */
  restart: string | null;
  /** The raw signed value of the return register. */
  ret: bigint;
}

/** Per-arch data: everything that differs between architectures and is not code. */
export interface ArchTable {
  arch: Arch;
  /** ELF machine name as CRIU's images write it. */
  elfMachine: string;
  /** Register names in `NT_PRSTATUS` order, one 8-byte slot each. */
  regNames: readonly string[];
  /** The instruction pointer and stack pointer registers. */
  ip: string;
  sp: string;
  syscall: SyscallConvention;
  /** `syscall; <trap>` — what remote syscalls write at an executable address. */
  syscallTrap: Uint8Array;
  /** The breakpoint instruction alone (`int3`, `brk #0`). */
  breakpoint: Uint8Array;
  /**
   * Where ip is, from the start of {@link syscallTrap}, when the trap stops the task: past `int3`
   * on x86_64 (3), at `brk` itself on aarch64 (4).
   */
  trapStopOffset: number;
  /** The extended register regset (`NT_X86_XSTATE`, `NT_PRFPREG`) and an upper bound on its size. */
  xstate: { noteType: number; maxSize: number; name: string };
  /** The `[vsyscall]` page, when the arch has one. */
  vsyscall: { start: bigint; end: bigint } | null;
  /** Candidate task sizes (highest user address + 1), smallest first; the host's is probed. */
  taskSizes: readonly bigint[];
}

/** The interface every architecture satisfies. */
export interface ArchOps {
  readonly arch: Arch;
  readonly table: ArchTable;
  /** Size in bytes of `NT_PRSTATUS`. */
  readonly regsSize: number;
  /** Byte offset of each register in `NT_PRSTATUS`. */
  readonly regOffsets: Readonly<Record<string, number>>;
  /** Syscall numbers of this arch, by name (the arch's column of `src/sys/syscalls.ts`). */
  readonly nr: Readonly<Record<SyscallName, number>>;

  /** Decodes an `NT_PRSTATUS` buffer into named registers. */
  decodeRegs(bytes: Uint8Array): Regs;
  /** Encodes registers into an `NT_PRSTATUS` buffer (into `out` when given). */
  encodeRegs(regs: Regs, out?: Uint8Array): Uint8Array;
  /** A copy of `regs` with some registers replaced (values taken modulo 2^64). */
  withRegs(regs: Regs, changes: Readonly<Record<string, bigint>>): Regs;
  /** One register straight from an `NT_PRSTATUS` buffer (unsigned), without decoding the rest. */
  readReg(bytes: Uint8Array, name: string): bigint;

  ip(regs: Regs): bigint;
  sp(regs: Regs): bigint;
  /** The syscall number the task is in (signed; -1 outside a syscall), when the regset has it. */
  syscallNr(regs: Regs): number | null;
  /** The return register, signed. */
  returnValue(regs: Regs): bigint;
  /** The six syscall argument registers. */
  syscallArgs(regs: Regs): bigint[];

  /**
   * Registers that make a task execute syscall `nr` with `args` at `ip` (which should hold
   * {@link ArchTable.syscallTrap}). Also cancels any pending in-kernel restart (`orig_rax = -1`) so
   * that resuming from a stop inside a syscall does not restart the old one over ours.
   */
  setupSyscall(regs: Regs, call: SyscallSetup): Regs;
  /** {@link setupSyscall} in place on an `NT_PRSTATUS` buffer (the hot path of remote syscalls). */
  writeSyscall(bytes: Uint8Array, call: SyscallSetup): void;
  /** The result of a syscall the task just made (signed: `-4095..-1` is `-errno`). */
  syscallResult(regs: Regs): bigint;
  /** The ip right after the trap of {@link ArchTable.syscallTrap} placed at `site`. */
  trapStopIp(site: bigint): bigint;

  /** The syscall a stopped task is inside, or null (pure; needs the number in the regset). */
  interruptedSyscall(regs: Regs): InterruptedSyscall | null;
  /**
   * Pure: the registers to save in an image for a task stopped inside a syscall, so that restoring
   * them re-executes it (`-ERESTART*`) or reports `-EINTR` (`-ERESTART_RESTARTBLOCK`), as the kernel
   * would have on return to user space. Live re-attaching needs none of this.
   */
  restartForImage(regs: Regs, extra?: { nr?: number; origArg0?: bigint }): { regs: Regs; fixup: RestartFixup };

  /** The page size of this machine. */
  pageSize(): number;
  /** The task size (highest user address + 1), probed on the host. */
  taskSize(): bigint;
}

/** Kernel-internal restart codes, as the return register holds them negated. */
export const RESTART_CODES: Readonly<Record<number, string>> = Object.freeze({
  512: 'ERESTARTSYS',
  513: 'ERESTARTNOINTR',
  514: 'ERESTARTNOHAND',
  516: 'ERESTART_RESTARTBLOCK',
});

const EINTR = 4n;

/** Builds an {@link ArchOps} from an arch's table. */
export function makeArchOps(table: ArchTable): ArchOps {
  const names = table.regNames;
  const regsSize = names.length * 8;
  const regOffsets: Record<string, number> = {};
  names.forEach((name, i) => (regOffsets[name] = i * 8));
  Object.freeze(regOffsets);
  const conv = table.syscall;
  const nr = syscallNumbers(table.arch);
  let taskSize: bigint | null = null;

  const get = (regs: Regs, name: string): bigint => {
    const v = regs[name];
    if (v === undefined) throw new RangeError(`No register ${name} in ${table.arch} registers`);
    return v;
  };
  const signed = (regs: Regs, name: string): bigint => BigInt.asIntN(64, get(regs, name));

  const ops: ArchOps = {
    arch: table.arch,
    table,
    regsSize,
    regOffsets,
    nr,
    decodeRegs(bytes) {
      if (bytes.byteLength < regsSize) throw new RangeError(`${table.arch} NT_PRSTATUS is ${regsSize} bytes, got ${bytes.byteLength}`);
      const words = wordsOf(bytes, names.length);
      const out: Record<string, bigint> = {};
      for (let i = 0; i < names.length; i++) out[names[i]!] = words[i]!;
      return out;
    },
    encodeRegs(regs, out) {
      const buf = out ?? new Uint8Array(regsSize);
      if (buf.byteLength < regsSize) throw new RangeError(`${table.arch} NT_PRSTATUS needs ${regsSize} bytes, got ${buf.byteLength}`);
      const view = new DataView(buf.buffer, buf.byteOffset, regsSize);
      for (let i = 0; i < names.length; i++) view.setBigUint64(i * 8, BigInt.asUintN(64, get(regs, names[i]!)), true);
      return buf.subarray(0, regsSize);
    },
    withRegs(regs, changes) {
      const out: Record<string, bigint> = {};
      for (const name of names) out[name] = get(regs, name);
      for (const name in changes) {
        if (regOffsets[name] === undefined) throw new RangeError(`No register ${name} in ${table.arch} registers`);
        out[name] = BigInt.asUintN(64, changes[name]!);
      }
      return out;
    },
    readReg(bytes, name) {
      const off = regOffsets[name];
      if (off === undefined) throw new RangeError(`No register ${name} in ${table.arch} registers`);
      return new DataView(bytes.buffer, bytes.byteOffset, regsSize).getBigUint64(off, true);
    },
    ip: (regs) => get(regs, table.ip),
    sp: (regs) => get(regs, table.sp),
    syscallNr: (regs) => (conv.origNr === null ? null : Number(signed(regs, conv.origNr))),
    returnValue: (regs) => signed(regs, conv.ret),
    syscallArgs: (regs) => conv.args.map((r) => get(regs, r)),
    setupSyscall(regs, call) {
      const bytes = ops.encodeRegs(regs);
      ops.writeSyscall(bytes, call);
      return ops.decodeRegs(bytes);
    },
    writeSyscall(bytes, call) {
      if (call.args.length > 6) throw new RangeError(`A syscall takes at most 6 arguments, got ${call.args.length}`);
      const view = new DataView(bytes.buffer, bytes.byteOffset, regsSize);
      const set = (name: string, v: bigint | number) => view.setBigUint64(regOffsets[name]!, BigInt.asUintN(64, BigInt(v)), true);
      set(conv.nr, call.nr);
      set(table.ip, call.ip);
      for (let i = 0; i < call.args.length; i++) set(conv.args[i]!, call.args[i]!);
      if (conv.origNr !== null) set(conv.origNr, -1n);
    },
    syscallResult: (regs) => signed(regs, conv.ret),
    trapStopIp: (site) => site + BigInt(table.trapStopOffset),
    interruptedSyscall(regs) {
      const n = ops.syscallNr(regs);
      if (n === null || n < 0) return null;
      const ret = ops.returnValue(regs);
      return { nr: n, restart: RESTART_CODES[Number(-ret)] ?? null, ret };
    },
    restartForImage(regs, extra) {
      const n = extra?.nr ?? ops.syscallNr(regs);
      if (n === null || n < 0) return { regs, fixup: { kind: 'none' } };
      const code = RESTART_CODES[Number(-ops.returnValue(regs))];
      if (code === undefined) return { regs, fixup: { kind: 'none' } };
      if (code === 'ERESTART_RESTARTBLOCK') return { regs: ops.withRegs(regs, { [conv.ret]: -EINTR }), fixup: { kind: 'eintr', nr: n } };
      // The kernel puts the first argument back (x86_64: rax = orig_rax, the number; aarch64:
      // x0 = orig_x0, the first argument) and moves ip back over the syscall instruction.
      const back = get(regs, table.ip) - BigInt(conv.insnLength);
      if (conv.origNr !== null) return { regs: ops.withRegs(regs, { [conv.ret]: get(regs, conv.origNr), [table.ip]: back }), fixup: { kind: 'restart', nr: n, code } };
      if (extra?.origArg0 === undefined) return { regs, fixup: { kind: 'unknown', nr: n, code } };
      return { regs: ops.withRegs(regs, { [conv.ret]: extra.origArg0, [table.ip]: back }), fixup: { kind: 'restart', nr: n, code } };
    },
    pageSize: () => pageSize(),
    taskSize() {
      taskSize ??= probeTaskSize(table);
      return taskSize;
    },
  };
  return Object.freeze(ops);
}

/**
 * `munmap(candidate, page)` — finds the task size among the table's candidates: munmap fails with
 * EINVAL for a range that ends above the task size and succeeds (doing nothing) on an unmapped
 * range below it. A candidate at or below the highest address this process has mapped is below the
 * task size without asking, so the probe never unmaps anything of ours.
 */
export function probeTaskSize(table: ArchTable): bigint {
  const page = pageSize();
  const highest = highestMapping();
  const sizes = table.taskSizes;
  for (let i = 0; i < sizes.length - 1; i++) {
    const candidate = sizes[i]!;
    if (candidate < highest) continue;
    try {
      munmap(candidate, page, { what: 'probe the task size' });
    } catch (err) {
      if (isSysError(err, 'EINVAL')) return candidate;
      throw err;
    }
  }
  return sizes[sizes.length - 1]!;
}

function highestMapping(): bigint {
  let highest = 0n;
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const dash = line.indexOf('-');
    const space = line.indexOf(' ');
    if (dash <= 0 || space <= dash) continue;
    const end = BigInt(`0x${line.slice(dash + 1, space)}`);
    // [vsyscall] sits above the task size on x86_64; it says nothing about the task size.
    if (end > highest && !line.endsWith('[vsyscall]')) highest = end;
  }
  return highest;
}

/** The 64-bit words of a little-endian buffer (a view when aligned, a copy otherwise). */
function wordsOf(bytes: Uint8Array, n: number): BigUint64Array {
  if (bytes.byteOffset % 8 === 0) return new BigUint64Array(bytes.buffer, bytes.byteOffset, n);
  return new BigUint64Array(bytes.slice(0, n * 8).buffer);
}

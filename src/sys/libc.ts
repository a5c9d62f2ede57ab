/**
 * The koffi boundary: libc is loaded here, and every system call goes through the two prototypes of
 * glibc's `syscall()` declared here. Nothing outside `src/sys/` imports koffi.
 *
 * glibc's `syscall(long nr, ...)` is variadic, but on x86_64 and aarch64 integer and pointer
 * arguments travel in the same registers whether a function is variadic or not, and glibc's
 * implementation only moves registers, so it is declared with six fixed arguments (the kernel ignores
 * the ones a call does not use). It returns -1 and sets errno on failure; wrappers read errno with
 * {@link lastErrno} before doing anything else. Every call here is synchronous, on the calling (main)
 * thread: ptrace requires it. koffi's `.async` is never used.
 */

import koffi from 'koffi';
import { ERRNO } from './errno.js';
import { SysError, type SysContext } from './error.js';
import { NR, syscallName, type SyscallName } from './syscalls.js';

const libc = koffi.load('libc.so.6');

/** `syscall()` with six 64-bit integer arguments: the fast path, for calls that take no pointers. */
const syscallInt = libc.func(
  'long syscall(long nr, int64_t a1, int64_t a2, int64_t a3, int64_t a4, int64_t a5, int64_t a6)',
) as (nr: number, a1: IntArg, a2: IntArg, a3: IntArg, a4: IntArg, a5: IntArg, a6: IntArg) => number | bigint;

/**
 * `syscall()` with six pointer arguments. koffi passes a Buffer/TypedArray/DataView/ArrayBuffer as the
 * address of its bytes (no copy), a bigint or number as that address value, and null as 0.
 */
const syscallPtr = libc.func(
  'long syscall(long nr, void *a1, void *a2, void *a3, void *a4, void *a5, void *a6)',
) as (nr: number, a1: SysArg, a2: SysArg, a3: SysArg, a4: SysArg, a5: SysArg, a6: SysArg) => number | bigint;

const sysconfFn = libc.func('long sysconf(int name)') as (name: number) => number | bigint;

type IntArg = number | bigint;

/**
 * One system call argument: a number or bigint (an integer or an address), a view or ArrayBuffer
 * (passed as the address of its first byte; it must stay alive until the call returns), or null (0).
 */
export type SysArg = number | bigint | ArrayBufferView | ArrayBuffer | null;

/** Names the call and the task or path it concerned, for the error thrown when it fails. */
export interface FailInfo {
  /** The call written out for people, e.g. `'kill(123, 0)'`. */
  call?: string;
  pid?: number;
  path?: string;
}

/**
 * errno as the last failed call left it. Read it first thing after a call returned -1: pass it as
 * the first argument of {@link fail}, so that it is read before the other arguments are built.
 */
export function lastErrno(): number {
  return koffi.errno();
}

/**
 * Builds the {@link SysError} for a failed call: `throw fail(lastErrno(), 'read', opts, {...})`.
 * Wrappers build `info` (the call written out) only on this path, so success costs no strings.
 */
export function fail(errno: number, syscall: string, ctx: SysContext | undefined, info?: FailInfo): SysError {
  return new SysError({ syscall, errno, what: ctx?.what, pid: info?.pid, path: info?.path, call: info?.call });
}

/** How many times each syscall number was called, for `bench/` ("performance is counted"). */
const counts = new Float64Array(1024);

/** Calls a syscall with integer arguments only; returns the raw result (-1 on failure, errno set). */
export function sysInt(nr: number, a1: IntArg = 0, a2: IntArg = 0, a3: IntArg = 0, a4: IntArg = 0, a5: IntArg = 0, a6: IntArg = 0): number | bigint {
  counts[nr & 1023]!++;
  return syscallInt(nr, a1, a2, a3, a4, a5, a6);
}

/** Calls a syscall whose arguments may be buffers; returns the raw result (-1 on failure, errno set). */
export function sysPtr(nr: number, a1: SysArg = null, a2: SysArg = null, a3: SysArg = null, a4: SysArg = null, a5: SysArg = null, a6: SysArg = null): number | bigint {
  counts[nr & 1023]!++;
  return syscallPtr(nr, a1, a2, a3, a4, a5, a6);
}

/** The system calls this process made through `sys` since start (or the last reset), by name. */
export function syscallCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  counts.forEach((n, nr) => {
    if (n > 0) out[syscallName(nr)] = n;
  });
  return out;
}

/** Sets every count of {@link syscallCounts} back to zero. */
export function resetSyscallCounts(): void {
  counts.fill(0);
}

function callAny(nr: number, args: SysArg[]): number | bigint {
  if (args.length > 6) throw new RangeError(`A system call takes at most 6 arguments, got ${args.length}`);
  for (const a of args) if (typeof a !== 'number' && typeof a !== 'bigint') return sysPtr(nr, ...args);
  return sysInt(nr, ...(args as IntArg[]));
}

function resolveNr(nr: number | SyscallName): number {
  return typeof nr === 'number' ? nr : NR[nr];
}

/**
 * `syscall(nr, ...args)` — makes any system call, by number or by name (`'getpid'`), kernel style:
 * returns the result as a bigint when it succeeds and `-errno` (a negative bigint) when it fails.
 * Never throws for a failed call.
 */
export function syscallRaw(nr: number | SyscallName, ...args: SysArg[]): bigint {
  const r = callAny(resolveNr(nr), args);
  if (r === -1) return -BigInt(lastErrno());
  return BigInt(r);
}

/**
 * `syscall(nr, ...args)` — makes any system call, by number (see `NR`) or by name (`'getpid'`), and
 * returns its result as a bigint; throws a {@link SysError} named after the call when it fails.
 */
export function syscall(nr: number | SyscallName, ...args: SysArg[]): bigint {
  const num = resolveNr(nr);
  const r = callAny(num, args);
  if (r === -1) throw fail(lastErrno(), syscallName(num), undefined, { call: `${syscallName(num)}(${args.map(describeArg).join(', ')})` });
  return BigInt(r);
}

function describeArg(a: SysArg): string {
  if (a === null) return 'NULL';
  if (typeof a === 'number' || typeof a === 'bigint') return String(a);
  return `<${a.byteLength} bytes>`;
}

/**
 * Runs a raw call again while it fails with EINTR (a signal handler ran). Any other result, -1 with
 * errno set included, is returned as it is.
 */
export function retryEintr(call: () => number | bigint): number | bigint {
  for (;;) {
    const r = call();
    if (r !== -1 || lastErrno() !== ERRNO.EINTR) return r;
  }
}

/**
 * The address of the first byte of a view, as a bigint. Asking for it moves a small, V8-heap
 * TypedArray's bytes off the heap for good, so the address stays valid while the view is alive:
 * keep a reference to the view for as long as the address is used (see {@link keepAlive}).
 */
export function addressOf(view: ArrayBufferView | ArrayBuffer): bigint {
  return koffi.address(view);
}

/**
 * Marks `values` as still in use at this point, so that buffers whose addresses were written into a
 * struct cannot be collected before the call that reads them has returned. Put it after the errno
 * check: it allocates, and nothing may run between a failed call and {@link lastErrno}.
 */
export function keepAlive(...values: unknown[]): void {
  // A store to module state cannot be optimised away, so `values` are reachable until here.
  // It keeps the last set alive until the next call, which costs nothing worth counting.
  kept[0] = values;
}

const kept: unknown[] = [null];

/**
 * An ArrayBuffer over `length` bytes of this process's memory at `address`, without copying.
 * The memory must stay mapped for as long as the buffer is used.
 */
export function viewAt(address: bigint, length: number): ArrayBuffer {
  return koffi.view(address, length);
}

/** `sysconf(name)` — a glibc configuration value (e.g. `SC_PAGESIZE`); throws on an unknown name. */
export function sysconf(name: number, ctx?: SysContext): number {
  const r = sysconfFn(name);
  if (r === -1) throw fail(lastErrno(), 'sysconf', ctx, { call: `sysconf(${name})` });
  return Number(r);
}

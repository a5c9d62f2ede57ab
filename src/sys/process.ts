/**
 * Tasks: ids, signals (kill/tgkill), pidfds, clone3, prctl and uname.
 *
 * There is no fork here on purpose: a child forked from Node through FFI dies at once. New tasks
 * come from helper processes driven with ptrace, or from the restorer blob; `clone3` is offered for
 * those paths' argument blocks ({@link encodeCloneArgs}) and for argument checking.
 */

import { CLONE_ARGS_SIZE, PR } from './constants.js';
import { type SysContext } from './error.js';
import { addressOf, fail, keepAlive, lastErrno, sysInt, sysPtr } from './libc.js';
import { allocStruct, asBuffer, fieldBytes, setField } from './layout.js';
import { CLONE_ARGS, UTSNAME } from './structs.js';
import { NR } from './syscalls.js';

/** `getpid()` — this process's id (its thread group id). */
export function getpid(): number {
  return Number(sysInt(NR.getpid));
}

/** `gettid()` — the calling thread's id (the main thread's is the pid). */
export function gettid(): number {
  return Number(sysInt(NR.gettid));
}

/** `getppid()` — the parent's pid. */
export function getppid(): number {
  return Number(sysInt(NR.getppid));
}

/** `kill(pid, sig)` — sends a signal to a process (signal 0 only checks that it exists). */
export function kill(pid: number, signal: number, opts?: SysContext): void {
  const r = sysInt(NR.kill, pid, signal);
  if (r === -1) throw fail(lastErrno(), 'kill', opts, { pid, call: `kill(${pid}, ${signal})` });
}

/** Options of tgkill. */
export interface TgkillOptions extends SysContext {
  signal: number;
}

/** `tgkill(tgid, tid, sig)` — sends a signal to one thread of a thread group. */
export function tgkill(tgid: number, tid: number, opts: TgkillOptions): void {
  const r = sysInt(NR.tgkill, tgid, tid, opts.signal);
  if (r === -1) throw fail(lastErrno(), 'tgkill', opts, { pid: tid, call: `tgkill(${tgid}, ${tid}, ${opts.signal})` });
}

/** Options of the pidfd calls. */
export interface PidfdOptions extends SysContext {
  /** Call flags (`PIDFD_NONBLOCK` for pidfd_open; 0 otherwise). */
  flags?: number;
}

/** `pidfd_open(pid, flags)` — an fd referring to a process, immune to pid reuse. */
export function pidfdOpen(pid: number, opts?: PidfdOptions): number {
  const flags = opts?.flags ?? 0;
  const r = sysInt(NR.pidfd_open, pid, flags);
  if (r === -1) throw fail(lastErrno(), 'pidfd_open', opts, { pid, call: `pidfd_open(${pid}, ${flags})` });
  return Number(r);
}

/**
 * `pidfd_getfd(pidfd, targetfd, flags)` — a duplicate, in this process, of another process's fd
 * (needs ptrace access to it). The new fd is close-on-exec.
 */
export function pidfdGetfd(pidfd: number, targetFd: number, opts?: PidfdOptions): number {
  const flags = opts?.flags ?? 0;
  const r = sysInt(NR.pidfd_getfd, pidfd, targetFd, flags);
  if (r === -1) throw fail(lastErrno(), 'pidfd_getfd', opts, { call: `pidfd_getfd(${pidfd}, ${targetFd}, ${flags})` });
  return Number(r);
}

/** `pidfd_send_signal(pidfd, sig, NULL, flags)` — sends a signal to the process a pidfd refers to. */
export function pidfdSendSignal(pidfd: number, signal: number, opts?: PidfdOptions): void {
  const flags = opts?.flags ?? 0;
  const r = sysInt(NR.pidfd_send_signal, pidfd, signal, 0, flags);
  if (r === -1) throw fail(lastErrno(), 'pidfd_send_signal', opts, { call: `pidfd_send_signal(${pidfd}, ${signal}, NULL, ${flags})` });
}

/** The fields of `struct clone_args`. Addresses are in the calling process. */
export interface CloneArgs {
  /** `CLONE_*` flags (bigints: some are above bit 31). */
  flags?: bigint;
  /** Where the kernel stores the child's pidfd (`CLONE.PIDFD`). */
  pidfd?: bigint;
  childTid?: bigint;
  parentTid?: bigint;
  /** Signal sent to the parent when the child exits (usually SIGCHLD). */
  exitSignal?: number;
  stack?: bigint;
  stackSize?: bigint;
  tls?: bigint;
  /**
   * The pids to give the child, innermost pid namespace first (needs CAP_CHECKPOINT_RESTORE or
   * CAP_SYS_ADMIN in each namespace). Written into the struct's own buffer, so it needs no address.
   */
  setTid?: readonly number[];
  /** A cgroup fd (`CLONE.INTO_CGROUP`). */
  cgroup?: number;
}

/**
 * Builds a `struct clone_args` (version 2, 88 bytes) followed by the `set_tid` array. `setTidAddr`
 * says where the array will be, when the block is used in another process; by default it is this
 * buffer's own address, which is only right if the buffer is passed to clone3 here, unmoved.
 */
export function encodeCloneArgs(args: CloneArgs, opts?: { setTidAddr?: bigint }): Buffer {
  const tids = args.setTid ?? [];
  const buf = Buffer.alloc(CLONE_ARGS.size + 4 * tids.length);
  const L = CLONE_ARGS;
  setField(buf, L, 'flags', args.flags ?? 0n);
  setField(buf, L, 'pidfd', args.pidfd ?? 0n);
  setField(buf, L, 'child_tid', args.childTid ?? 0n);
  setField(buf, L, 'parent_tid', args.parentTid ?? 0n);
  setField(buf, L, 'exit_signal', args.exitSignal ?? 0);
  setField(buf, L, 'stack', args.stack ?? 0n);
  setField(buf, L, 'stack_size', args.stackSize ?? 0n);
  setField(buf, L, 'tls', args.tls ?? 0n);
  setField(buf, L, 'cgroup', args.cgroup ?? 0);
  tids.forEach((tid, i) => buf.writeInt32LE(tid, L.size + 4 * i));
  if (tids.length > 0) {
    setField(buf, L, 'set_tid', opts?.setTidAddr ?? addressOf(buf) + BigInt(L.size));
    setField(buf, L, 'set_tid_size', tids.length);
  }
  return buf;
}

/** Options of clone3. */
export interface Clone3Options extends SysContext {
  /** The `size` argument; `CLONE_ARGS_SIZE.VER2` (88) when absent. Other values test the kernel's checks. */
  size?: number;
}

/**
 * `clone3(cl_args, size)` — creates a task; returns the child's tid in the parent.
 *
 * Caution: the child returns from this call inside a copy of Node, which cannot survive it. Call it
 * only where the arguments make the kernel refuse, or where the child runs code of its own (`stack`
 * and `CLONE_VM` from prepared memory); restore creates its tasks from helpers instead.
 */
export function clone3(args: CloneArgs, opts?: Clone3Options): number {
  const block = encodeCloneArgs(args);
  const size = opts?.size ?? CLONE_ARGS_SIZE.VER2;
  const r = sysPtr(NR.clone3, block, size);
  if (r === -1) throw fail(lastErrno(), 'clone3', opts, {
    call: `clone3({flags: 0x${(args.flags ?? 0n).toString(16)}, set_tid: [${(args.setTid ?? []).join(', ')}]}, ${size})`,
  });
  keepAlive(block);
  return Number(r);
}

/** Options of prctl. */
export interface PrctlOptions extends SysContext {
  /** arg2 to arg5 (missing ones are 0). Buffers are passed by address. */
  args?: ReadonlyArray<number | bigint | ArrayBufferView>;
}

/** `prctl(option, arg2, arg3, arg4, arg5)` — a process control operation (`PR.*`); returns its result. */
export function prctl(option: number, opts?: PrctlOptions): bigint {
  const a = opts?.args ?? [];
  if (a.length > 4) throw new RangeError(`prctl takes at most 4 arguments after the option, got ${a.length}`);
  const r = sysPtr(NR.prctl, option, a[0] ?? 0, a[1] ?? 0, a[2] ?? 0, a[3] ?? 0);
  if (r === -1) throw fail(lastErrno(), 'prctl', opts, { call: `prctl(${option}${a.map((x) => `, ${typeof x === 'object' ? 'buf' : x}`).join('')})` });
  return BigInt(r);
}

/**
 * `prctl(PR_SET_CHILD_SUBREAPER, on)` — makes this process adopt orphaned descendants, so that
 * tasks restored through double-forking helpers become our children and can be waited for.
 */
export function setChildSubreaper(on: boolean, opts?: SysContext): void {
  prctl(PR.SET_CHILD_SUBREAPER, { ...opts, args: [on ? 1 : 0] });
}

/** What uname reports. */
export interface Utsname {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  domainname: string;
}

/** `uname(buf)` — the kernel's name, release, version and machine. */
export function uname(opts?: SysContext): Utsname {
  const buf = allocStruct(UTSNAME);
  const r = sysPtr(NR.uname, buf);
  if (r === -1) throw fail(lastErrno(), 'uname', opts, { call: 'uname()' });
  const field = (name: keyof Utsname): string => {
    const bytes = fieldBytes(asBuffer(buf), UTSNAME, name);
    const nul = bytes.indexOf(0);
    return bytes.subarray(0, nul < 0 ? bytes.length : nul).toString('utf8');
  };
  return {
    sysname: field('sysname'),
    nodename: field('nodename'),
    release: field('release'),
    version: field('version'),
    machine: field('machine'),
    domainname: field('domainname'),
  };
}

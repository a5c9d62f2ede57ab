/**
 * Pipes and zero-copy transfers: pipe2, splice, vmsplice, tee, and the pipe size fcntls.
 * Memory pages travel target -> pipe (vmsplice, in the parasite) -> file (splice, in the driver).
 */

import { F } from './constants_io.js';
import { type SysContext } from './error.js';
import { fcntl } from './io.js';
import { fail, keepAlive, lastErrno, retryEintr, sysInt, sysPtr } from './libc.js';
import { buildIovecs, type IoVec } from './structs.js';
import { NR } from './syscalls.js';

/** Options of pipe2. */
export interface Pipe2Options extends SysContext {
  /** `O.CLOEXEC`, `O.NONBLOCK`, `O.DIRECT` (packet mode), or 0. */
  flags?: number;
}

/** `pipe2(fds, flags)` — creates a pipe; returns `[readEnd, writeEnd]`. */
export function pipe2(opts?: Pipe2Options): [readFd: number, writeFd: number] {
  const fds = new Int32Array(2);
  const flags = opts?.flags ?? 0;
  const r = sysPtr(NR.pipe2, fds, flags);
  if (r === -1) throw fail(lastErrno(), 'pipe2', opts, { call: `pipe2(0o${flags.toString(8)})` });
  return [fds[0]!, fds[1]!];
}

/** Options of splice. */
export interface SpliceOptions extends SysContext {
  /** How many bytes to move at most. */
  len: number;
  /** Read from this offset of `fdIn` (not a pipe) instead of its file position; left unchanged. */
  offIn?: bigint | number;
  /** Write at this offset of `fdOut` (not a pipe) instead of its file position; left unchanged. */
  offOut?: bigint | number;
  /** `SPLICE_F_*` flags. */
  flags?: number;
}

/**
 * `splice(fd_in, off_in, fd_out, off_out, len, flags)` — moves up to `len` bytes between a pipe and
 * another fd without copying them through user space; returns the bytes moved (0: nothing to read).
 */
export function splice(fdIn: number, fdOut: number, opts: SpliceOptions): number {
  const offIn = opts.offIn === undefined ? null : offsetCell(opts.offIn);
  const offOut = opts.offOut === undefined ? null : offsetCell(opts.offOut);
  const flags = opts.flags ?? 0;
  const r = retryEintr(() => sysPtr(NR.splice, fdIn, offIn, fdOut, offOut, opts.len, flags));
  if (r === -1) throw fail(lastErrno(), 'splice', opts, { call: `splice(${fdIn}, ${opts.offIn ?? 'NULL'}, ${fdOut}, ${opts.offOut ?? 'NULL'}, ${opts.len}, ${flags})` });
  return Number(r);
}

function offsetCell(offset: bigint | number): BigInt64Array {
  return BigInt64Array.of(BigInt(offset));
}

/** Options of vmsplice. */
export interface VmspliceOptions extends SysContext {
  /** `SPLICE_F_*` flags (`SPLICE_F.GIFT` hands the pages over). */
  flags?: number;
}

/**
 * `vmsplice(fd, iov, nr_segs, flags)` — maps user memory into a pipe (or, on a read end, copies out of
 * it); returns the bytes moved. The memory must not change until the pipe has been drained.
 */
export function vmsplice(fd: number, iovs: readonly IoVec[], opts?: VmspliceOptions): number {
  const iov = buildIovecs(iovs);
  const flags = opts?.flags ?? 0;
  const r = retryEintr(() => sysPtr(NR.vmsplice, fd, iov, iovs.length, flags));
  if (r === -1) throw fail(lastErrno(), 'vmsplice', opts, { call: `vmsplice(${fd}, [${iovs.length} iovecs], ${flags})` });
  keepAlive(iovs);
  return Number(r);
}

/** Options of tee. */
export interface TeeOptions extends SysContext {
  len: number;
  flags?: number;
}

/** `tee(fd_in, fd_out, len, flags)` — copies up to `len` bytes from one pipe to another without consuming them. */
export function tee(fdIn: number, fdOut: number, opts: TeeOptions): number {
  const flags = opts.flags ?? 0;
  const r = retryEintr(() => sysInt(NR.tee, fdIn, fdOut, opts.len, flags));
  if (r === -1) throw fail(lastErrno(), 'tee', opts, { call: `tee(${fdIn}, ${fdOut}, ${opts.len}, ${flags})` });
  return Number(r);
}

/** `fcntl(fd, F_GETPIPE_SZ)` — a pipe's capacity in bytes. */
export function getPipeSize(fd: number, opts?: SysContext): number {
  return fcntl(fd, F.GETPIPE_SZ, opts);
}

/**
 * `fcntl(fd, F_SETPIPE_SZ, size)` — resizes a pipe; returns the capacity the kernel chose (at least
 * `size`, rounded up to a power-of-two number of pages). Above `/proc/sys/fs/pipe-max-size` it needs
 * CAP_SYS_RESOURCE (EPERM otherwise).
 */
export function setPipeSize(fd: number, size: number, opts?: SysContext): number {
  return fcntl(fd, F.SETPIPE_SZ, { ...opts, arg: size });
}

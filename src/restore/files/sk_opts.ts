/**
 * The socket options of an sk_opts_entry put back on a socket made again in the driver, in the
 * order CRIU's restore_socket_opts() sets them. Any socket family can use it (Unix, inet,
 * netlink): what a family does not have is simply absent from its entry.
 *
 * Buffer sizes are set first, halved (the kernel doubles what setsockopt is given, and the image
 * holds the doubled value), with `SO_SNDBUFFORCE`/`SO_RCVBUFFORCE` so that the limits of
 * net.core.*mem_max do not apply (root may), or plain `SO_SNDBUF`/`SO_RCVBUF` when refused. Setting
 * a size locks it (`SO_BUF_LOCK`), so the lock bits the image recorded are set right after.
 * Boolean options are only set when true: a new socket has them all off. `SO_REUSEADDR` and
 * `SO_REUSEPORT` are left to the family (CRIU's rule: when they may be set depends on the socket's
 * state; see {@link setReuseAddr}).
 */
import type { SkOptsEntry } from '../../images/generated/types.js';
import { NET } from '../../net/constants.js';
import { addressOf, isSysError, SO, SOL, setsockopt, syscall, TCP } from '../../sys/index.js';

/** What the image recorded for a filter instruction: code << 48 | jt << 40 | jf << 32 | k. */
const FILTER_INSN_BYTES = 8;
/** struct sock_fprog on 64-bit: a u16 length, padding, a pointer. */
const PROG_BYTES = 16;

/** Thrown with the option that failed and the socket it was for (`name`, as the caller calls it). */
export class SocketOptionError extends Error {
  constructor(readonly option: string, cause: unknown, name?: string) {
    super(`${name === undefined ? '' : `${name}: `}cannot set ${option}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * `setsockopt(fd, ...)` for every option of `opts`. Throws {@link SocketOptionError} naming the
 * first option the kernel refused and `name`, the socket as the caller calls it.
 */
export function restoreSocketOpts(fd: number, opts: SkOptsEntry, name?: string): void {
  setBufferSizes(fd, opts.so_sndbuf >>> 1, opts.so_rcvbuf >>> 1, name);
  const set = (option: string, level: number, optname: number, value: number | ArrayBufferView) => {
    try {
      setsockopt(fd, { level, name: optname, value });
    } catch (err) {
      throw new SocketOptionError(option, err, name);
    }
  };
  if (opts.so_buf_lock !== undefined) set('SO_BUF_LOCK', SOL.SOCKET, NET.SO_BUF_LOCK, opts.so_buf_lock);
  if (opts.so_priority !== undefined) set('SO_PRIORITY', SOL.SOCKET, SO.PRIORITY, opts.so_priority);
  if (opts.so_rcvlowat !== undefined) set('SO_RCVLOWAT', SOL.SOCKET, SO.RCVLOWAT, opts.so_rcvlowat);
  if (opts.so_mark !== undefined) set('SO_MARK', SOL.SOCKET, SO.MARK, opts.so_mark);
  if (opts.so_passcred === true) set('SO_PASSCRED', SOL.SOCKET, SO.PASSCRED, 1);
  if (opts.so_passsec === true) set('SO_PASSSEC', SOL.SOCKET, NET.SO_PASSSEC, 1);
  if (opts.so_dontroute === true) set('SO_DONTROUTE', SOL.SOCKET, SO.DONTROUTE, 1);
  if (opts.so_no_check === true) set('SO_NO_CHECK', SOL.SOCKET, SO.NO_CHECK, 1);
  if (opts.so_broadcast === true) set('SO_BROADCAST', SOL.SOCKET, SO.BROADCAST, 1);
  if ((opts.so_oobinline ?? 0) !== 0) set('SO_OOBINLINE', SOL.SOCKET, SO.OOBINLINE, 1);
  // struct linger { int l_onoff; int l_linger; }: present in the image only when it was on.
  if (opts.so_linger !== undefined) set('SO_LINGER', SOL.SOCKET, SO.LINGER, Int32Array.of(1, opts.so_linger));
  if (opts.so_keepalive === true) set('SO_KEEPALIVE', SOL.SOCKET, SO.KEEPALIVE, 1);
  if (opts.tcp_keepcnt !== undefined) set('TCP_KEEPCNT', SOL.TCP, TCP.KEEPCNT, opts.tcp_keepcnt);
  if (opts.tcp_keepidle !== undefined) set('TCP_KEEPIDLE', SOL.TCP, TCP.KEEPIDLE, opts.tcp_keepidle);
  if (opts.tcp_keepintvl !== undefined) set('TCP_KEEPINTVL', SOL.TCP, TCP.KEEPINTVL, opts.tcp_keepintvl);
  // struct timeval { long tv_sec; long tv_usec; }
  set('SO_SNDTIMEO', SOL.SOCKET, NET.SO_SNDTIMEO, BigInt64Array.of(BigInt.asIntN(64, opts.so_snd_tmo_sec), BigInt.asIntN(64, opts.so_snd_tmo_usec)));
  set('SO_RCVTIMEO', SOL.SOCKET, NET.SO_RCVTIMEO, BigInt64Array.of(BigInt.asIntN(64, opts.so_rcv_tmo_sec), BigInt.asIntN(64, opts.so_rcv_tmo_usec)));
  if (opts.so_bound_dev !== undefined && opts.so_bound_dev !== '') set('SO_BINDTODEVICE', SOL.SOCKET, SO.BINDTODEVICE, Buffer.from(`${opts.so_bound_dev}\0`));
  if ((opts.so_filter ?? []).length > 0) attachFilter(fd, opts.so_filter!, name);
}

/** `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, on)`. */
export function setReuseAddr(fd: number, on: boolean, name?: string): void {
  try {
    setsockopt(fd, { level: SOL.SOCKET, name: SO.REUSEADDR, value: on ? 1 : 0 });
  } catch (err) {
    throw new SocketOptionError('SO_REUSEADDR', err, name);
  }
}

/**
 * `SO_SNDBUFFORCE`/`SO_RCVBUFFORCE` (values already halved), falling back to `SO_SNDBUF`/`SO_RCVBUF`
 * when the kernel refuses the forced ones (EPERM without CAP_NET_ADMIN).
 */
export function setBufferSizes(fd: number, snd: number, rcv: number, name?: string): void {
  for (const [force, plain, value, option] of [[SO.SNDBUFFORCE, SO.SNDBUF, snd, 'SO_SNDBUF'], [SO.RCVBUFFORCE, SO.RCVBUF, rcv, 'SO_RCVBUF']] as const) {
    try {
      setsockopt(fd, { level: SOL.SOCKET, name: force, value });
    } catch (err) {
      if (!isSysError(err, 'EPERM')) throw new SocketOptionError(`${option}FORCE`, err, name);
      try {
        setsockopt(fd, { level: SOL.SOCKET, name: plain, value });
      } catch (err2) {
        throw new SocketOptionError(option, err2, name);
      }
    }
  }
}

/**
 * `setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &{len, filter})`: the classic BPF program, one
 * `struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}` per instruction.
 */
function attachFilter(fd: number, words: readonly bigint[], name: string | undefined): void {
  // One buffer: struct sock_fprog { unsigned short len; struct sock_filter *filter; } (16 bytes),
  // then the instructions it points at, so both live as long as the call that reads them.
  const buf = Buffer.alloc(PROG_BYTES + words.length * FILTER_INSN_BYTES);
  buf.writeUInt16LE(words.length, 0);
  buf.writeBigUInt64LE(addressOf(buf) + BigInt(PROG_BYTES), 8);
  words.forEach((w, i) => {
    const at = PROG_BYTES + i * FILTER_INSN_BYTES;
    buf.writeUInt16LE(Number((w >> 48n) & 0xffffn), at);
    buf.writeUInt8(Number((w >> 40n) & 0xffn), at + 2);
    buf.writeUInt8(Number((w >> 32n) & 0xffn), at + 3);
    buf.writeUInt32LE(Number(w & 0xffffffffn), at + 4);
  });
  try {
    syscall('setsockopt', fd, SOL.SOCKET, SO.ATTACH_FILTER, buf, PROG_BYTES);
  } catch (err) {
    throw new SocketOptionError('SO_ATTACH_FILTER', err, name);
  }
}

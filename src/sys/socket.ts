/**
 * Sockets: socket/socketpair, bind/connect/listen/accept, sendmsg/recvmsg with fds passed as
 * `SCM_RIGHTS` (and credentials), socket options and names.
 */

import { SCM, SO, SOL } from './constants_io.js';
import { type SysContext } from './error.js';
import { addressOf, fail, keepAlive, lastErrno, retryEintr, sysInt, sysPtr } from './libc.js';
import { allocStruct, asBuffer, getNum, setField } from './layout.js';
import { decodeSockAddr, encodeSockAddr, type SockAddr } from './sockaddr.js';
import { align8, buildIovecs, CMSGHDR, cmsgLen, cmsgSpace, MSGHDR, SOCKADDR_STORAGE, UCRED, type IoVec } from './structs.js';
import { NR } from './syscalls.js';

/** Options of socket/socketpair. */
export interface SocketOptions extends SysContext {
  /** The protocol (0: the family's default). */
  protocol?: number;
}

/** `socket(domain, type, protocol)` — creates a socket; `type` may carry `SOCK.CLOEXEC`/`SOCK.NONBLOCK`. */
export function socket(domain: number, type: number, opts?: SocketOptions): number {
  const protocol = opts?.protocol ?? 0;
  const r = sysInt(NR.socket, domain, type, protocol);
  if (r === -1) throw fail(lastErrno(), 'socket', opts, { call: `socket(${domain}, ${type}, ${protocol})` });
  return Number(r);
}

/** `socketpair(domain, type, protocol, sv)` — a pair of connected sockets. */
export function socketpair(domain: number, type: number, opts?: SocketOptions): [number, number] {
  const sv = new Int32Array(2);
  const protocol = opts?.protocol ?? 0;
  const r = sysPtr(NR.socketpair, domain, type, protocol, sv);
  if (r === -1) throw fail(lastErrno(), 'socketpair', opts, { call: `socketpair(${domain}, ${type}, ${protocol})` });
  return [sv[0]!, sv[1]!];
}

/** `bind(fd, addr, addrlen)` — gives a socket its local address. */
export function bind(fd: number, addr: SockAddr, opts?: SysContext): void {
  const sa = encodeSockAddr(addr);
  const r = sysPtr(NR.bind, fd, sa, sa.length);
  if (r === -1) throw fail(lastErrno(), 'bind', opts, { call: `bind(${fd}, ${describe(addr)})` });
}

/** `connect(fd, addr, addrlen)` — connects a socket. Not retried on EINTR (the connection goes on). */
export function connect(fd: number, addr: SockAddr, opts?: SysContext): void {
  const sa = encodeSockAddr(addr);
  const r = sysPtr(NR.connect, fd, sa, sa.length);
  if (r === -1) throw fail(lastErrno(), 'connect', opts, { call: `connect(${fd}, ${describe(addr)})` });
}

/** Options of listen. */
export interface ListenOptions extends SysContext {
  /** Pending connection queue length; 128 when absent. */
  backlog?: number;
}

/** `listen(fd, backlog)` — marks a socket as accepting connections. */
export function listen(fd: number, opts?: ListenOptions): void {
  const backlog = opts?.backlog ?? 128;
  const r = sysInt(NR.listen, fd, backlog);
  if (r === -1) throw fail(lastErrno(), 'listen', opts, { call: `listen(${fd}, ${backlog})` });
}

/** Options of accept. */
export interface AcceptOptions extends SysContext {
  /** `SOCK.CLOEXEC`, `SOCK.NONBLOCK` or 0. */
  flags?: number;
}

/** `accept4(fd, NULL, NULL, flags)` — takes a pending connection; returns its fd. */
export function accept(fd: number, opts?: AcceptOptions): number {
  const flags = opts?.flags ?? 0;
  const r = retryEintr(() => sysInt(NR.accept4, fd, 0, 0, flags));
  if (r === -1) throw fail(lastErrno(), 'accept4', opts, { call: `accept4(${fd}, ${flags})` });
  return Number(r);
}

/** What sendmsg sends. */
export interface OutMessage {
  /** The bytes, as one view or several (gathered in order). */
  data?: ArrayBufferView | readonly IoVec[];
  /** Descriptors to pass (`SCM_RIGHTS`): the receiver gets new fds for the same open files. */
  fds?: readonly number[];
  /** The destination, for unconnected datagram sockets. */
  addr?: SockAddr;
}

/** Options of sendmsg/recvmsg. */
export interface MsgOptions extends SysContext {
  /** `MSG_*` flags. */
  flags?: number;
}

/** Points a `struct msghdr` at its address, iovecs and control buffer (each may be absent). */
function fillMsghdr(hdr: Buffer, parts: { name: Buffer | null; iov: Buffer; iovCount: number; control: Buffer | null }): void {
  if (parts.name !== null) {
    setField(hdr, MSGHDR, 'msg_name', addressOf(parts.name));
    setField(hdr, MSGHDR, 'msg_namelen', parts.name.length);
  }
  if (parts.iovCount > 0) {
    setField(hdr, MSGHDR, 'msg_iov', addressOf(parts.iov));
    setField(hdr, MSGHDR, 'msg_iovlen', parts.iovCount);
  }
  if (parts.control !== null) {
    setField(hdr, MSGHDR, 'msg_control', addressOf(parts.control));
    setField(hdr, MSGHDR, 'msg_controllen', parts.control.length);
  }
}

/** `sendmsg(fd, msg, flags)` — sends bytes and, optionally, fds; returns the bytes sent. */
export function sendmsg(fd: number, msg: OutMessage, opts?: MsgOptions): number {
  const data = msg.data === undefined ? [] : ArrayBuffer.isView(msg.data) ? [msg.data] : msg.data;
  const iov = buildIovecs(data);
  const hdr = allocStruct(MSGHDR);
  const name = msg.addr === undefined ? null : encodeSockAddr(msg.addr);
  let control: Buffer | null = null;
  if (msg.fds !== undefined && msg.fds.length > 0) {
    control = Buffer.alloc(cmsgSpace(4 * msg.fds.length));
    setField(control, CMSGHDR, 'cmsg_len', cmsgLen(4 * msg.fds.length));
    setField(control, CMSGHDR, 'cmsg_level', SOL.SOCKET);
    setField(control, CMSGHDR, 'cmsg_type', SCM.RIGHTS);
    msg.fds.forEach((f, i) => control!.writeInt32LE(f, CMSGHDR.size + 4 * i));
  }
  fillMsghdr(hdr, { name, iov, iovCount: data.length, control });
  const flags = opts?.flags ?? 0;
  const r = retryEintr(() => sysPtr(NR.sendmsg, fd, hdr, flags));
  if (r === -1) throw fail(lastErrno(), 'sendmsg', opts, { call: `sendmsg(${fd}, ${msg.fds?.length ?? 0} fds, ${flags})` });
  keepAlive(data, iov, name, control);
  return Number(r);
}

/** Credentials of the sending process (`SCM_CREDENTIALS`, `SO_PEERCRED`). */
export interface Ucred {
  pid: number;
  uid: number;
  gid: number;
}

/** What recvmsg received. */
export interface InMessage {
  /** Bytes received into the buffers. */
  bytes: number;
  /** Descriptors received with `SCM_RIGHTS`, now open in this process. */
  fds: number[];
  /** `MSG_*` flags the kernel set: `MSG.TRUNC` (data cut), `MSG.CTRUNC` (fds or credentials dropped). */
  flags: number;
  /** The sender's address (datagram sockets), when `wantAddr` was set. */
  addr?: SockAddr;
  /** The sender's credentials, when the socket has `SO.PASSCRED` set. */
  credentials?: Ucred;
}

/** Options of recvmsg. */
export interface RecvmsgOptions extends MsgOptions {
  /**
   * Room for this many passed fds; 0 when absent. Fds beyond the room are closed by the kernel and
   * `MSG.CTRUNC` is set. (With `wantCredentials` and no credentials sent, a few more may fit.)
   */
  maxFds?: number;
  /** Leave room for `SCM_CREDENTIALS` (set `SO.PASSCRED` on the socket to receive them). */
  wantCredentials?: boolean;
  /** Return the sender's address. */
  wantAddr?: boolean;
}

/**
 * `recvmsg(fd, msg, flags)` — receives bytes into `into` and any fds passed with them.
 * Pass `MSG.CMSG_CLOEXEC` in `flags` to get the fds close-on-exec.
 */
export function recvmsg(fd: number, into: ArrayBufferView | readonly IoVec[], opts?: RecvmsgOptions): InMessage {
  const data = ArrayBuffer.isView(into) ? [into] : into;
  const iov = buildIovecs(data);
  const hdr = allocStruct(MSGHDR);
  const maxFds = opts?.maxFds ?? 0;
  // The fds' message goes last and gets CMSG_LEN, not CMSG_SPACE: the kernel fits as many fds as
  // the remaining room holds, and CMSG_SPACE's padding would let one more in.
  const controlLen = (opts?.wantCredentials ? cmsgSpace(UCRED.size) : 0) + (maxFds > 0 ? cmsgLen(4 * maxFds) : 0);
  const control = controlLen > 0 ? Buffer.alloc(controlLen) : null;
  const name = opts?.wantAddr ? allocStruct(SOCKADDR_STORAGE) : null;
  fillMsghdr(hdr, { name, iov, iovCount: data.length, control });
  const flags = opts?.flags ?? 0;
  const r = retryEintr(() => sysPtr(NR.recvmsg, fd, hdr, flags));
  if (r === -1) throw fail(lastErrno(), 'recvmsg', opts, { call: `recvmsg(${fd}, ${flags})` });
  keepAlive(data, iov, name, control);
  const bytes = Number(r);
  const out: InMessage = { bytes, fds: [], flags: getNum(hdr, MSGHDR, 'msg_flags') };
  if (name !== null) out.addr = decodeSockAddr(name, getNum(hdr, MSGHDR, 'msg_namelen'));
  if (control !== null) parseControl(control.subarray(0, getNum(hdr, MSGHDR, 'msg_controllen')), out);
  return out;
}

function parseControl(control: Buffer, out: InMessage): void {
  for (let at = 0; at + CMSGHDR.size <= control.length; ) {
    const len = getNum(control, CMSGHDR, 'cmsg_len', at);
    if (len < CMSGHDR.size || at + len > control.length) break;
    const level = getNum(control, CMSGHDR, 'cmsg_level', at);
    const type = getNum(control, CMSGHDR, 'cmsg_type', at);
    const payload = control.subarray(at + CMSGHDR.size, at + len);
    if (level === SOL.SOCKET && type === SCM.RIGHTS) {
      for (let i = 0; i + 4 <= payload.length; i += 4) out.fds.push(payload.readInt32LE(i));
    } else if (level === SOL.SOCKET && type === SCM.CREDENTIALS && payload.length >= UCRED.size) {
      out.credentials = decodeUcred(payload);
    }
    at += align8(len);
  }
}

function decodeUcred(buf: Buffer): Ucred {
  return { pid: getNum(buf, UCRED, 'pid'), uid: getNum(buf, UCRED, 'uid'), gid: getNum(buf, UCRED, 'gid') };
}

/** A socket option: its level (`SOL.*`, `IPPROTO.*`) and name (`SO.*`, `TCP.*`). */
export interface SockOpt {
  level: number;
  name: number;
}

/** `setsockopt(fd, level, name, value, len)` — sets an option to an int or to raw bytes. */
export function setsockopt(fd: number, opt: SockOpt & { value: number | ArrayBufferView }, opts?: SysContext): void {
  const value = typeof opt.value === 'number' ? Int32Array.of(opt.value) : opt.value;
  const r = sysPtr(NR.setsockopt, fd, opt.level, opt.name, value, value.byteLength);
  if (r === -1) throw fail(lastErrno(), 'setsockopt', opts, { call: `setsockopt(${fd}, ${opt.level}, ${opt.name})` });
}

/** Options of getsockopt. */
export interface GetsockoptOptions extends SysContext {
  /** Room for the value in bytes; 4 (an int) when absent. */
  size?: number;
}

/** `getsockopt(fd, level, name, value, &len)` — an option's raw bytes (as many as the kernel wrote). */
export function getsockopt(fd: number, opt: SockOpt, opts?: GetsockoptOptions): Buffer {
  const value = Buffer.alloc(opts?.size ?? 4);
  const len = Uint32Array.of(value.length);
  const r = sysPtr(NR.getsockopt, fd, opt.level, opt.name, value, len);
  if (r === -1) throw fail(lastErrno(), 'getsockopt', opts, { call: `getsockopt(${fd}, ${opt.level}, ${opt.name})` });
  return value.subarray(0, len[0]);
}

/** `getsockopt(fd, level, name, &int, &len)` — an int option. */
export function getsockoptInt(fd: number, opt: SockOpt, opts?: SysContext): number {
  return getsockopt(fd, opt, { ...opts, size: 4 }).readInt32LE(0);
}

/** `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)` — the credentials of a Unix socket's peer. */
export function getPeerCred(fd: number, opts?: SysContext): Ucred {
  return decodeUcred(getsockopt(fd, { level: SOL.SOCKET, name: SO.PEERCRED }, { ...opts, size: UCRED.size }));
}

/** `getsockname(fd, addr, &len)` — a socket's local address. */
export function getsockname(fd: number, opts?: SysContext): SockAddr {
  return nameCall(NR.getsockname, 'getsockname', fd, opts);
}

/** `getpeername(fd, addr, &len)` — the address of a connected socket's peer. */
export function getpeername(fd: number, opts?: SysContext): SockAddr {
  return nameCall(NR.getpeername, 'getpeername', fd, opts);
}

function nameCall(nr: number, syscall: string, fd: number, opts: SysContext | undefined): SockAddr {
  const sa = allocStruct(SOCKADDR_STORAGE);
  const len = Uint32Array.of(sa.length);
  if (sysPtr(nr, fd, sa, len) === -1) throw fail(lastErrno(), syscall, opts, { call: `${syscall}(${fd})` });
  return decodeSockAddr(sa, len[0]!);
}

/** `shutdown(fd, how)` — shuts down part of a full-duplex connection (`SHUT.*`). */
export function shutdown(fd: number, how: number, opts?: SysContext): void {
  const r = sysInt(NR.shutdown, fd, how);
  if (r === -1) throw fail(lastErrno(), 'shutdown', opts, { call: `shutdown(${fd}, ${how})` });
}

function describe(addr: SockAddr): string {
  switch (addr.family) {
    case 'unix':
      return `${addr.abstract ? '@' : ''}${typeof addr.path === 'string' ? addr.path : asBuffer(addr.path).toString('utf8')}`;
    case 'inet':
      return `${addr.address}:${addr.port}`;
    case 'inet6':
      return `[${addr.address}]:${addr.port}`;
    case 'raw':
      return `family ${addr.af}`;
  }
}

/**
 * TCP repair mode (TCP_REPAIR, CAP_NET_ADMIN): saving a connection's state and rebuilding it in a
 * new socket without a handshake, so the peer never notices. Connections that are ESTABLISHED or
 * half-closed (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING) are saved and rebuilt; the
 * FINs of the half-closed ones are src/net/tcp_half_closed.ts's part. A connection still opening
 * (SYN_SENT: its queues empty, `write_seq` one past its SYN) is rebuilt as CRIU's soccr does it:
 * its send sequence set to the SYN's, then a real connect() with repair mode off for the moment,
 * which sends the SYN again with the same number (the network lock drops it; the kernel resends
 * it later), and no TCP_REPAIR_OPTIONS (nothing was negotiated yet).
 *
 * The call order, which the kernel requires and these functions follow:
 *
 *   save:    repair on → TCP_INFO (state, options, wscale) → SIOCOUTQ / SIOCOUTQNSD / SIOCINQ
 *            (queue lengths; our FIN, once queued, taken out of the first two) → TCP_MAXSEG,
 *            TCP_TIMESTAMP → TCP_REPAIR_WINDOW → for each queue: TCP_REPAIR_QUEUE +
 *            TCP_QUEUE_SEQ + recv(MSG_PEEK) of its bytes (the sequence numbers keep the FINs)
 *            ... the caller closes the socket while still in repair mode: no FIN, no RST.
 *   restore: new socket → repair on → bind(src) → TCP_QUEUE_SEQ of both queues (start of the
 *            saved data, the FINs left out; SYN_SENT: the SYN's) → connect(dst) (no packet sent;
 *            SYN_SENT: repair off, non-blocking connect, repair on) → TCP_REPAIR_OPTIONS (not SYN_SENT)
 *            → TCP_TIMESTAMP → receive queue refilled → sent-but-unacked data into the send queue
 *            → [never-sent data, repair off for the moment, when our FIN must follow it]
 *            → TCP_REPAIR_WINDOW (one back for the peer's FIN) → [the FINs replayed: ours by
 *            shutdown(SHUT_WR), the peer's FIN or ACK injected as a marked packet; the state
 *            checked] (`rebuildConnection`; still in repair mode: closing it now sends nothing)
 *            → repair off → the never-sent data written normally, if not yet (`resumeConnection`).
 *
 * Precondition for both: no packet may reach the connection meanwhile (the network lock), or the
 * kernel answers the peer with a reset.
 */
import { CriuTsError } from '../errors.js';
import type { TcpStreamEntry } from '../images/generated/types.js';
import {
  F, MSG, O, SO, SOL, TCP, bind, fcntl, connect, getsockopt, getsockoptInt, isSysError, recvmsg, sendmsg, setsockopt, syscall, type SockAddr,
} from '../sys/index.js';
import {
  FinReplayError, finFollowsUnsent, isRepairableState, lengthsWithoutFin, replayFins, seqsBeforeFins, tcpStateName, windowBeforeFin,
} from './tcp_half_closed.js';

const TCP_INFO = 11;
const SIOCINQ = 0x541b;
const SIOCOUTQ = 0x5411;
const SIOCOUTQNSD = 0x894b;
const TCPI_OPT = { TIMESTAMPS: 1, SACK: 2, WSCALE: 4 } as const;
const TCPOPT = { MAXSEG: 2, WINDOW: 3, SACK_PERM: 4, TIMESTAMP: 8 } as const;
const TCP_ESTABLISHED = 1;
const TCP_SYN_SENT = 2;

export class TcpRepairError extends CriuTsError {
  constructor(code: 'TCP_REPAIR_STATE' | 'TCP_REPAIR_QUEUE' | 'TCP_REPAIR_FAILED', what: string, options?: { cause?: unknown }) {
    super(code, what, options);
  }
}

/** Everything of a connection that a tcp-stream image keeps, with the queued bytes. */
export interface TcpConnectionState {
  /** The TCP state (`TCP_STATE`); a tcp-stream image does not keep it, its inet_sk_entry does. */
  state: number;
  /** `rcv_nxt` and `write_seq`, the FINs counted. */
  inqSeq: number;
  outqSeq: number;
  inq: Uint8Array;
  /** The unacknowledged and never-sent data bytes (our FIN is not among them). */
  outq: Uint8Array;
  /** The tail of `outq` never sent to the network. */
  unsentLength: number;
  optMask: number;
  sndWscale: number;
  rcvWscale: number;
  mssClamp: number;
  timestamp: number;
  window?: { sndWl1: number; sndWnd: number; maxWindow: number; rcvWnd: number; rcvWup: number };
}

/** `setsockopt(fd, SOL_TCP, TCP_REPAIR, on)`. */
export function setRepair(fd: number, on: boolean): void {
  setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR, value: on ? 1 : 0 }, { what: `turn TCP repair ${on ? 'on' : 'off'}` });
}

function ioctlInt(fd: number, request: number, what: string): number {
  const value = new Int32Array(1);
  try {
    syscall('ioctl', fd, request, value);
  } catch (err) {
    throw new TcpRepairError('TCP_REPAIR_FAILED', `cannot read the ${what} of the connection`, { cause: err });
  }
  return value[0]!;
}

function getU32(fd: number, name: number): number {
  return getsockopt(fd, { level: SOL.TCP, name }, { size: 4 }).readUInt32LE(0);
}

function selectQueue(fd: number, queue: number): void {
  setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR_QUEUE, value: queue });
}

function peekQueue(fd: number, queue: number, length: number): { seq: number; data: Uint8Array } {
  selectQueue(fd, queue);
  const seq = getU32(fd, TCP.QUEUE_SEQ);
  const data = new Uint8Array(length + 1); // one byte more proves the length is exact
  let got = 0;
  if (length > 0) got = recvmsg(fd, data, { flags: MSG.PEEK | MSG.DONTWAIT }).bytes;
  if (got !== length) {
    throw new TcpRepairError('TCP_REPAIR_QUEUE', `the ${queue === TCP.RECV_QUEUE ? 'receive' : 'send'} queue holds ${got} bytes, ${length} expected`);
  }
  return { seq, data: data.subarray(0, length) };
}

/** Saves a connection (established, half-closed or opening); the socket must already be in repair mode. */
export function saveConnection(fd: number): TcpConnectionState {
  const info = getsockopt(fd, { level: SOL.TCP, name: TCP_INFO }, { size: 232 });
  const state = info[0]!;
  if (!isRepairableState(state)) {
    throw new TcpRepairError('TCP_REPAIR_STATE', `a connection in state ${tcpStateName(state)} cannot be saved (only ESTABLISHED, SYN_SENT, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK and CLOSING can)`);
  }
  const optMask = info[5]!;
  const { outq: outqLength, unsent: unsentLength } = lengthsWithoutFin(
    state,
    ioctlInt(fd, SIOCOUTQ, 'send queue length'),
    ioctlInt(fd, SIOCOUTQNSD, 'unsent data length'),
  );
  const inqLength = ioctlInt(fd, SIOCINQ, 'receive queue length');
  const saved: TcpConnectionState = {
    state,
    inqSeq: 0,
    outqSeq: 0,
    inq: new Uint8Array(0),
    outq: new Uint8Array(0),
    unsentLength,
    optMask,
    sndWscale: optMask & TCPI_OPT.WSCALE ? info[6]! & 0x0f : 0,
    rcvWscale: optMask & TCPI_OPT.WSCALE ? info[6]! >> 4 : 0,
    mssClamp: getU32(fd, TCP.MAXSEG),
    timestamp: optMask & TCPI_OPT.TIMESTAMPS ? getU32(fd, TCP.TIMESTAMP) : 0,
  };
  try {
    const w = getsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR_WINDOW }, { size: 20 });
    saved.window = { sndWl1: w.readUInt32LE(0), sndWnd: w.readUInt32LE(4), maxWindow: w.readUInt32LE(8), rcvWnd: w.readUInt32LE(12), rcvWup: w.readUInt32LE(16) };
  } catch (err) {
    if (!isSysError(err, 'ENOPROTOOPT')) throw err; // kernels before 4.8
  }
  const inq = peekQueue(fd, TCP.RECV_QUEUE, inqLength);
  const outq = peekQueue(fd, TCP.SEND_QUEUE, outqLength);
  saved.inqSeq = inq.seq;
  saved.inq = inq.data;
  saved.outqSeq = outq.seq;
  saved.outq = outq.data;
  return saved;
}

function sendIntoQueue(fd: number, queue: number | undefined, data: Uint8Array, flags = 0): void {
  if (queue !== undefined) selectQueue(fd, queue);
  for (let off = 0, chunk = data.length; off < data.length; ) {
    try {
      off += sendmsg(fd, { data: data.subarray(off, off + Math.min(chunk, data.length - off)) }, { flags: MSG.NOSIGNAL | flags });
    } catch (err) {
      // In repair mode the kernel allocates one linear buffer per call: large chunks can fail.
      if (isSysError(err, 'ENOMEM') && chunk > 1024) {
        chunk >>= 1;
        continue;
      }
      throw new TcpRepairError('TCP_REPAIR_QUEUE', `cannot refill a queue of the connection`, { cause: err });
    }
  }
}

/**
 * Writes the data the kernel had never sent into `fd`, out of repair mode. Its send buffer (as the
 * image set it) may have been full to the last byte, and the new socket lays the bytes out in
 * other buffers: a blocking write could then wait forever for a peer that the lock holds off. So
 * the buffer is made big enough for the moment, the write does not block, and the size is set
 * back (a socket may hold more than its buffer; it only waits longer before its next write).
 */
function writeUnsent(fd: number, data: Uint8Array): void {
  const sndbuf = getsockoptInt(fd, { level: SOL.SOCKET, name: SO.SNDBUF }); // the doubled value
  const roomy = Math.min(0x3fffffff, Math.floor(sndbuf / 2) + 2 * data.length + (1 << 16));
  setsockopt(fd, { level: SOL.SOCKET, name: SO.SNDBUFFORCE, value: roomy });
  try {
    sendIntoQueue(fd, undefined, data, MSG.DONTWAIT);
  } finally {
    setsockopt(fd, { level: SOL.SOCKET, name: SO.SNDBUFFORCE, value: Math.floor(sndbuf / 2) });
  }
}

/**
 * Rebuilds a saved connection in `fd`, a new TCP socket already in repair mode, bound to `local`
 * and "connected" to `remote` without a packet; leaves repair mode at the end.
 */
export function restoreConnection(fd: number, saved: TcpConnectionState, local: SockAddr, remote: SockAddr): void {
  rebuildConnection(fd, saved, local, remote);
  resumeConnection(fd, saved);
}

/**
 * The first half of `restoreConnection`: everything but leaving repair mode. A restore does this
 * for every connection first, and resumes them all once the whole tree is back; if it fails in
 * between, the sockets are closed still in repair mode, which the peers never see. A half-closed
 * connection leaves this in its saved state, its FINs replayed.
 */
export function rebuildConnection(fd: number, saved: TcpConnectionState, local: SockAddr, remote: SockAddr): void {
  const what = `${endpoint(local)} -> ${endpoint(remote)}`;
  if (!isRepairableState(saved.state)) {
    throw new TcpRepairError('TCP_REPAIR_STATE', `${what}: a connection in state ${tcpStateName(saved.state)} cannot be rebuilt`);
  }
  const seqs = seqsBeforeFins(saved.state, saved.inqSeq, saved.outqSeq);
  bind(fd, local, { what: 'bind the restored connection' });
  selectQueue(fd, TCP.RECV_QUEUE);
  setsockopt(fd, { level: SOL.TCP, name: TCP.QUEUE_SEQ, value: (seqs.inqSeq - saved.inq.length) | 0 });
  const opening = saved.state === TCP_SYN_SENT;
  selectQueue(fd, TCP.SEND_QUEUE);
  setsockopt(fd, { level: SOL.TCP, name: TCP.QUEUE_SEQ, value: (seqs.outqSeq - saved.outq.length - (opening ? 1 : 0)) | 0 });
  if (opening) connectAgain(fd, remote, what);
  else connect(fd, remote, { what: 'reconnect the restored connection (repair mode: no handshake)' });

  const opts: number[] = [];
  if (saved.optMask & TCPI_OPT.SACK) opts.push(TCPOPT.SACK_PERM, 0);
  if (saved.optMask & TCPI_OPT.WSCALE) opts.push(TCPOPT.WINDOW, saved.sndWscale + (saved.rcvWscale << 16));
  if (saved.optMask & TCPI_OPT.TIMESTAMPS) opts.push(TCPOPT.TIMESTAMP, 0);
  opts.push(TCPOPT.MAXSEG, saved.mssClamp);
  if (!opening) setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR_OPTIONS, value: Uint32Array.from(opts) });
  if (saved.optMask & TCPI_OPT.TIMESTAMPS) setsockopt(fd, { level: SOL.TCP, name: TCP.TIMESTAMP, value: saved.timestamp | 0 });

  if (saved.inq.length > 0) sendIntoQueue(fd, TCP.RECV_QUEUE, saved.inq);
  const sent = saved.outq.length - saved.unsentLength;
  if (sent > 0) sendIntoQueue(fd, TCP.SEND_QUEUE, saved.outq.subarray(0, sent));
  if (finFollowsUnsent(saved.state, saved.unsentLength)) {
    // Our FIN goes behind the data never sent, which only a socket out of repair mode queues as
    // unsent: out for the moment (whatever it sends, the network lock drops), then back in.
    setRepair(fd, false);
    writeUnsent(fd, saved.outq.subarray(sent));
    setRepair(fd, true);
  }
  if (saved.window) {
    const w = windowBeforeFin(saved.state, saved.window);
    setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR_WINDOW, value: Uint32Array.of(w.sndWl1, w.sndWnd, w.maxWindow, w.rcvWnd, w.rcvWup) });
  }
  try {
    replayFins(fd, {
      state: saved.state,
      inqSeq: seqs.inqSeq,
      outqSeq: seqs.outqSeq,
      outqLength: saved.outq.length,
      ...(saved.window ? { sndWnd: saved.window.sndWnd } : {}),
      sndWscale: saved.sndWscale,
      local,
      remote,
      what,
    });
  } catch (err) {
    if (err instanceof FinReplayError) throw new TcpRepairError('TCP_REPAIR_STATE', `cannot bring back the ${tcpStateName(saved.state)} state of ${err.message}`);
    throw new TcpRepairError('TCP_REPAIR_FAILED', `cannot bring back the ${tcpStateName(saved.state)} state of ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A SYN_SENT connection's connect(), out of repair mode and without blocking: the kernel sends
 * its SYN (with the sequence number set before, the saved one) and goes on resending it.
 */
function connectAgain(fd: number, remote: SockAddr, what: string): void {
  const flags = fcntl(fd, F.GETFL, { what: `read the flags of ${what}` });
  setRepair(fd, false);
  fcntl(fd, F.SETFL, { arg: flags | O.NONBLOCK, what: `make ${what} non-blocking` });
  try {
    connect(fd, remote, { what: `connect ${what} again (SYN_SENT)` });
  } catch (err) {
    if (!isSysError(err, 'EINPROGRESS')) throw err;
  } finally {
    fcntl(fd, F.SETFL, { arg: flags, what: `set the flags of ${what} back` });
  }
  setRepair(fd, true);
}

/** The second half: repair mode off, and the data the kernel had never sent written normally. */
export function resumeConnection(fd: number, saved: TcpConnectionState): void {
  const sent = saved.outq.length - saved.unsentLength;
  setRepair(fd, false);
  // Data the kernel never sent: written like any data, now that the connection is live (unless
  // the rebuild wrote it already, in front of our FIN).
  if (saved.unsentLength > 0 && !finFollowsUnsent(saved.state, saved.unsentLength)) writeUnsent(fd, saved.outq.subarray(sent));
}

function endpoint(addr: SockAddr): string {
  if (addr.family === 'inet') return `${addr.address}:${addr.port}`;
  if (addr.family === 'inet6') return `[${addr.address}]:${addr.port}`;
  return addr.family;
}

/** The tcp-stream image of a saved connection (queues go in its extra data: inq, then outq). */
export function tcpStreamEntry(s: TcpConnectionState): { entry: TcpStreamEntry; extra: { inq: Uint8Array; outq: Uint8Array } } {
  const entry: TcpStreamEntry = {
    inq_len: s.inq.length,
    inq_seq: s.inqSeq,
    outq_len: s.outq.length,
    outq_seq: s.outqSeq,
    opt_mask: s.optMask,
    snd_wscale: s.sndWscale,
    mss_clamp: s.mssClamp,
  };
  if (s.optMask & TCPI_OPT.WSCALE) entry.rcv_wscale = s.rcvWscale;
  if (s.optMask & TCPI_OPT.TIMESTAMPS) entry.timestamp = s.timestamp;
  entry.unsq_len = s.unsentLength;
  if (s.window) {
    entry.snd_wl1 = s.window.sndWl1;
    entry.snd_wnd = s.window.sndWnd;
    entry.max_window = s.window.maxWindow;
    entry.rcv_wnd = s.window.rcvWnd;
    entry.rcv_wup = s.window.rcvWup;
  }
  return { entry, extra: { inq: s.inq, outq: s.outq } };
}

/**
 * The state a tcp-stream image describes; `state` is the TCP state its inet_sk_entry records
 * (ESTABLISHED when absent).
 */
export function fromTcpStreamEntry(entry: TcpStreamEntry, extra: { inq: Uint8Array; outq: Uint8Array }, state: number = TCP_ESTABLISHED): TcpConnectionState {
  const s: TcpConnectionState = {
    state,
    inqSeq: entry.inq_seq,
    outqSeq: entry.outq_seq,
    inq: extra.inq,
    outq: extra.outq,
    unsentLength: entry.unsq_len ?? 0,
    optMask: entry.opt_mask,
    sndWscale: entry.snd_wscale,
    rcvWscale: entry.rcv_wscale ?? 0,
    mssClamp: entry.mss_clamp,
    timestamp: entry.timestamp ?? 0,
  };
  if (entry.snd_wl1 !== undefined) {
    s.window = { sndWl1: entry.snd_wl1, sndWnd: entry.snd_wnd ?? 0, maxWindow: entry.max_window ?? 0, rcvWnd: entry.rcv_wnd ?? 0, rcvWup: entry.rcv_wup ?? 0 };
  }
  return s;
}

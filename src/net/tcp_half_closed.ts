/**
 * Half-closed TCP connections in repair mode: the FINs of a connection that is no longer simply
 * ESTABLISHED, at the dump and at the restore. The facts are the kernel's (and CRIU's soccr follows
 * them the same way):
 *
 * - A FIN takes one sequence number. Ours, once queued (FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK),
 *   is counted in `write_seq`, so in SIOCOUTQ (`write_seq - snd_una`) while unacknowledged and in
 *   SIOCOUTQNSD (`write_seq - snd_nxt`) while unsent, though it carries no byte. The peer's, once
 *   received (CLOSE_WAIT, LAST_ACK, CLOSING), is counted in `rcv_nxt` but not in SIOCINQ.
 * - A socket in repair mode can only be "connected" as ESTABLISHED (SYN_SENT is the exception,
 *   see tcp_repair.ts). The half-closed states are reached from there as the kernel would reach
 *   them: `shutdown(SHUT_WR)` queues our FIN (with the send queue selected, the kernel takes it as
 *   already sent; the selection is cleared after), and a bare segment from the peer's address,
 *   marked so that the network lock lets it through (src/net/tcp_packet.ts, marked_packet.ts),
 *   brings the peer's FIN or the ACK of ours. The kernel handles such a segment in repair mode
 *   like any other, so, as soccr does, it is injected before repair mode is left: the order of
 *   our FIN and theirs (LAST_ACK against CLOSING) is then ours to choose, and a restore that
 *   fails later still closes the socket silently.
 *
 * Save (`lengthsWithoutFin`): the byte counts of the send queue without our FIN. The sequence
 * numbers are kept as the kernel gives them (with the FINs), as CRIU keeps them.
 *
 * Restore, in this order (`rebuildConnection` in tcp_repair.ts calls each at its step):
 *
 *   1. `seqsBeforeFins`: the queues' sequence numbers without the FINs, set before connect();
 *   2. queues refilled as for ESTABLISHED; if our FIN is to follow never-sent data, that data is
 *      written with repair mode off for a moment (`finFollowsUnsent`) so the FIN lands behind it;
 *   3. `windowBeforeFin`: the repair window, one back on the receive side if the peer's FIN is
 *      still to come (the kernel refuses an `rcv_wup` beyond `rcv_nxt`);
 *   4. `replayFins`:
 *      - FIN_WAIT1, FIN_WAIT2, CLOSING: our FIN queued first (as sent when it was acked);
 *      - CLOSE_WAIT, LAST_ACK, CLOSING: the peer's FIN|ACK injected, at `rcv_nxt`, acking `snd_una`;
 *      - LAST_ACK: our FIN queued then, after theirs;
 *      - FIN_WAIT2: the peer's ACK of our FIN injected;
 *      after each injected segment the socket's state is checked (the kernel handles a looped
 *      packet in its softirq, so it is waited for, briefly), and at the end it must be the saved one.
 *
 * All of this happens while the socket is still in repair mode and the network lock holds the
 * connection: the ACKs the kernel answers with never reach the peer, which had its own long ago.
 */
import type { SockAddr } from '../sys/index.js';
import { SHUT, SOL, TCP, getsockopt, parseIPv4, parseIPv6, setsockopt, shutdown, sleepSync } from '../sys/index.js';
import { TCP_STATE } from './constants.js';
import { sendMarkedPacket } from './marked_packet.js';
import { TCP_FLAG, buildTcpPacket } from './tcp_packet.js';

const TCP_INFO = 11;
const TCP_NO_QUEUE = 0;

const bit = (...states: number[]) => states.reduce((mask, s) => mask | (1 << s), 0);

/** Our FIN is queued before the peer's arrives (or it is the only one). */
const SNDQ_FIRST_FIN = bit(TCP_STATE.FIN_WAIT1, TCP_STATE.FIN_WAIT2, TCP_STATE.CLOSING);
/** Our FIN is queued after the peer's. */
const SNDQ_SECOND_FIN = bit(TCP_STATE.LAST_ACK);
/** Our FIN was acknowledged by the peer. */
const SNDQ_FIN_ACKED = bit(TCP_STATE.FIN_WAIT2);
/** The peer's FIN arrived before ours was queued (or ours never was). */
const RCVQ_FIRST_FIN = bit(TCP_STATE.CLOSE_WAIT, TCP_STATE.LAST_ACK);
/** The peer's FIN arrived after ours was queued. */
const RCVQ_SECOND_FIN = bit(TCP_STATE.CLOSING);

const OUR_FIN = SNDQ_FIRST_FIN | SNDQ_SECOND_FIN;
const THEIR_FIN = RCVQ_FIRST_FIN | RCVQ_SECOND_FIN;

/** The states a connection is saved and rebuilt in. */
const REPAIRABLE = bit(TCP_STATE.ESTABLISHED, TCP_STATE.SYN_SENT, TCP_STATE.FIN_WAIT1, TCP_STATE.FIN_WAIT2, TCP_STATE.CLOSE_WAIT, TCP_STATE.LAST_ACK, TCP_STATE.CLOSING);

const STATE_NAMES = Object.fromEntries(Object.entries(TCP_STATE).map(([k, v]) => [v, k])) as Record<number, string>;

/** `FIN_WAIT2`, or the number of a state that has no name. */
export function tcpStateName(state: number): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}

/**
 * Whether a connection in `state` can be saved and rebuilt through repair mode: ESTABLISHED, the
 * half-closed states, and SYN_SENT (whose SYN the rebuild sends again; see tcp_repair.ts).
 */
export function isRepairableState(state: number): boolean {
  return state > 0 && state < 32 && (REPAIRABLE & (1 << state)) !== 0;
}

const has = (set: number, state: number) => (set & (1 << state)) !== 0;

/** Whether our FIN is in the send queue in `state`. */
export function hasOurFin(state: number): boolean {
  return has(OUR_FIN, state);
}

/** Whether the peer's FIN was received in `state`. */
export function hasTheirFin(state: number): boolean {
  return has(THEIR_FIN, state);
}

/**
 * The data bytes of the send queue and of its never-sent tail, from SIOCOUTQ and SIOCOUTQNSD,
 * which count our FIN once queued (it is the last thing in the queue, so it is unsent only if the
 * tail is not empty).
 */
export function lengthsWithoutFin(state: number, outq: number, unsent: number): { outq: number; unsent: number } {
  if (!hasOurFin(state)) return { outq, unsent };
  return { outq: outq > 0 ? outq - 1 : 0, unsent: unsent > 0 ? unsent - 1 : 0 };
}

/** `rcv_nxt` and `write_seq` before the FINs of `state`: where the rebuilt queues end. */
export function seqsBeforeFins(state: number, inqSeq: number, outqSeq: number): { inqSeq: number; outqSeq: number } {
  return { inqSeq: (inqSeq - (hasTheirFin(state) ? 1 : 0)) >>> 0, outqSeq: (outqSeq - (hasOurFin(state) ? 1 : 0)) >>> 0 };
}

/**
 * Whether the never-sent data must be written before our FIN is queued, that is during the
 * rebuild, with repair mode off for a moment (otherwise it is written when the connection resumes).
 */
export function finFollowsUnsent(state: number, unsentLength: number): boolean {
  return hasOurFin(state) && unsentLength > 0;
}

export interface RepairWindow {
  sndWl1: number;
  sndWnd: number;
  maxWindow: number;
  rcvWnd: number;
  rcvWup: number;
}

/** The repair window to set before the peer's FIN is replayed: `rcv_wup` one back, the window one wider. */
export function windowBeforeFin(state: number, w: RepairWindow): RepairWindow {
  if (!hasTheirFin(state)) return w;
  return { ...w, rcvWup: (w.rcvWup - 1) >>> 0, rcvWnd: (w.rcvWnd + 1) >>> 0 };
}

/** What `replayFins` needs of the connection. */
export interface FinReplay {
  /** The saved state, the one to reach. */
  state: number;
  /** `rcv_nxt` and `write_seq` as rebuilt (from `seqsBeforeFins`). */
  inqSeq: number;
  outqSeq: number;
  /** Data bytes still unacknowledged in the send queue (without our FIN). */
  outqLength: number;
  /** The peer's send window and our scale of it, for the window field of the injected segments. */
  sndWnd?: number;
  sndWscale: number;
  local: SockAddr;
  remote: SockAddr;
  /** The connection, for errors: `127.0.0.1:45060 -> 127.0.0.1:47001`. */
  what: string;
}

/** Thrown by `replayFins` (tcp_repair.ts turns it into a TcpRepairError). */
export class FinReplayError extends Error {}

/** The TCP state of `fd`, from TCP_INFO. */
export function tcpState(fd: number): number {
  return getsockopt(fd, { level: SOL.TCP, name: TCP_INFO }, { size: 8 })[0]!;
}

/** Waits (at most `ms`) for the kernel to bring `fd` to `state`; a looped packet is handled in a softirq. */
function awaitState(fd: number, state: number, step: string, what: string, ms = 2000): void {
  const deadline = Date.now() + ms;
  for (let now = tcpState(fd); now !== state; now = tcpState(fd)) {
    if (Date.now() > deadline) {
      throw new FinReplayError(`${what}: after ${step} the connection is ${tcpStateName(now)}, not ${tcpStateName(state)}`);
    }
    sleepSync(1);
  }
}

/** Our FIN into the send queue: `shutdown(SHUT_WR)` in repair mode; with the send queue selected, as already sent. */
function queueOurFin(fd: number, asSent: boolean, what: string): void {
  if (asSent) setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR_QUEUE, value: TCP.SEND_QUEUE });
  shutdown(fd, SHUT.WR, { what: `queue the FIN of ${what}` });
  if (asSent) setsockopt(fd, { level: SOL.TCP, name: TCP.REPAIR_QUEUE, value: TCP_NO_QUEUE });
}

/** An address's bytes as a packet carries them, and its port. */
function endpointOf(addr: SockAddr): { bytes: Uint8Array; port: number } {
  if (addr.family === 'inet') return { bytes: parseIPv4(addr.address), port: addr.port };
  if (addr.family === 'inet6') return { bytes: parseIPv6(addr.address), port: addr.port };
  throw new FinReplayError(`not an IP address: ${addr.family}`);
}

function isMapped(a: Uint8Array): boolean {
  return a.length === 16 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
}

/** A bare segment from the peer to us (its source is the connection's remote end), injected. */
function injectFromPeer(c: FinReplay, seq: number, ack: number, flags: number): void {
  const from = endpointOf(c.remote);
  const to = endpointOf(c.local);
  let src = from.bytes;
  let dst = to.bytes;
  if (isMapped(src) && isMapped(dst)) {
    // An IPv6 socket talking to an IPv4 peer: its packets are IPv4 ones.
    src = src.subarray(12);
    dst = dst.subarray(12);
  }
  // The window field the peer would send: its window as we know it, in its scale (soccr sends
  // our receive window here; the peer's keeps our idea of its window as it was).
  const window = c.sndWnd === undefined ? 0xffff : Math.min(0xffff, Math.floor(c.sndWnd / 2 ** c.sndWscale));
  const packet = buildTcpPacket({
    src, srcPort: from.port, dst, dstPort: to.port, seq, ack, flags, window,
  });
  sendMarkedPacket(packet, dst);
}

/**
 * Brings `fd`, rebuilt as ESTABLISHED in repair mode with its queues and window, to the saved
 * half-closed state (the order is in this file's header). Nothing to do for ESTABLISHED.
 */
export function replayFins(fd: number, c: FinReplay): void {
  const { state } = c;
  if (state === TCP_STATE.ESTABLISHED) return;
  let outqSeq = c.outqSeq;
  const snduna = () => (outqSeq - c.outqLength) >>> 0;
  if (has(SNDQ_FIRST_FIN, state)) {
    queueOurFin(fd, has(SNDQ_FIN_ACKED, state), c.what);
    awaitState(fd, TCP_STATE.FIN_WAIT1, 'our FIN was queued', c.what);
  }
  if (hasTheirFin(state)) {
    injectFromPeer(c, c.inqSeq, snduna(), TCP_FLAG.FIN | TCP_FLAG.ACK);
    awaitState(fd, has(RCVQ_SECOND_FIN, state) ? TCP_STATE.CLOSING : TCP_STATE.CLOSE_WAIT, "the peer's FIN was injected", c.what);
  }
  if (has(SNDQ_SECOND_FIN, state)) {
    queueOurFin(fd, has(SNDQ_FIN_ACKED, state), c.what);
    awaitState(fd, TCP_STATE.LAST_ACK, 'our FIN was queued', c.what);
  }
  if (has(SNDQ_FIN_ACKED, state)) {
    outqSeq = (outqSeq + 1) >>> 0; // the FIN's sequence number, now acknowledged
    injectFromPeer(c, c.inqSeq, snduna(), TCP_FLAG.ACK);
    awaitState(fd, state, "the peer's ACK of our FIN was injected", c.what);
  }
  const now = tcpState(fd);
  if (now !== state) throw new FinReplayError(`${c.what}: rebuilt as ${tcpStateName(now)}, not ${tcpStateName(state)}`);
}

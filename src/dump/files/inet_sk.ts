/**
 * IPv4 and IPv6 sockets that need no TCP repair (files.img INETSK, inet_sk_entry as CRIU writes
 * it): UDP and UDP-Lite sockets, bound or connected, and TCP sockets that listen or were never
 * connected. State, addresses and queue lengths come from sock_diag (sockets in no table — an
 * unbound UDP socket, a closed TCP one — from the socket itself), options from getsockopt.
 *
 * A TCP connection — ESTABLISHED, half-closed (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK,
 * CLOSING) or still opening (SYN_SENT) — is dumped only with `--tcp-established` (the fd options carry the dump's
 * TcpConnections): under the network lock and in repair mode its sequence numbers, options, window
 * and both queues go to tcp-stream-<inode>.img, and the state TCP_INFO gives in repair mode to the
 * inet_sk_entry, as CRIU writes them (src/net/tcp_half_closed.ts says how the FINs are counted).
 * With `--tcp-close` it is recorded without its stream, to be restored closed. Orphaned sockets
 * (FIN_WAIT2 or TIME_WAIT after a close) have no fd and are the kernel's, not the tree's. Raw
 * sockets (any protocol, with their raw options) and ICMP "ping" sockets are in no sock_diag table
 * CRIU asks: their addresses come from the socket, and a peer address makes them ESTABLISHED. As
 * in CRIU, the datagrams waiting in a UDP socket's receive queue are not kept.
 */
import { readFileSync } from 'node:fs';
import type { InetSkEntry } from '../../images/generated/types.js';
import { NET, TCP_STATE } from '../../net/constants.js';
import { inetSockets, type InetSocketDiag } from '../../net/sock_diag.js';
import {
  AF, IPPROTO, MSG, SO, SOCK, SOL, formatIPv4, formatIPv6, getpeername, getsockname, getsockopt, getsockoptInt, isSysError, parseIPv4, parseIPv6, recvmsg,
  type SockAddr,
} from '../../sys/index.js';
import { writeEntries } from '../../images/typed.js';
import type { LockedConnection } from '../../net/network_lock.js';
import { isRepairableState } from '../../net/tcp_half_closed.js';
import { TcpRepairError, tcpStreamEntry } from '../../net/tcp_repair.js';
import { FdDumpError, type FdDumpContext, type FdFacts } from './kind.js';
import { dumpIpOpts, dumpIpRawOpts, dumpTcpOpts } from './inet_opts.js';
import { dumpSocketOpts } from './sk_opts.js';

/** The TCP states CRIU asks sock_diag for (a closed socket is in no table anyway). */
const TCP_LISTED = [
  TCP_STATE.LISTEN, TCP_STATE.ESTABLISHED, TCP_STATE.FIN_WAIT1, TCP_STATE.FIN_WAIT2, TCP_STATE.CLOSE_WAIT, TCP_STATE.LAST_ACK, TCP_STATE.CLOSING, TCP_STATE.SYN_SENT,
].reduce((mask, s) => mask | (1 << s), 0);

const STATE_NAMES = Object.fromEntries(Object.entries(TCP_STATE).map(([k, v]) => [v, k])) as Record<number, string>;

/** What the dump needs of an inet socket, from sock_diag or from the socket itself. */
interface InetFacts {
  state: number;
  srcPort: number;
  dstPort: number;
  src: Buffer;
  dst: Buffer;
  rqueue: number;
  wqueue: number;
  shutdown: number;
  /** Listed by sock_diag (only those carry the namespace id, as in CRIU). */
  listed: boolean;
}

/** sock_diag listings of one dump, by family and protocol. */
const listings = new WeakMap<FdDumpContext, Map<string, Map<number, InetSocketDiag>>>();

function listed(ctx: FdDumpContext, family: number, protocol: number): Map<number, InetSocketDiag> {
  let byKey = listings.get(ctx);
  if (byKey === undefined) listings.set(ctx, (byKey = new Map()));
  const key = `${family}/${protocol}`;
  let sockets = byKey.get(key);
  if (sockets === undefined) {
    try {
      sockets = inetSockets(family, protocol, protocol === IPPROTO.TCP ? { states: TCP_LISTED } : undefined);
    } catch (err) {
      if (!isSysError(err, 'ENOENT')) throw err;
      sockets = new Map(); // no diag module for this protocol (UDP-Lite): no socket is listed
    }
    byKey.set(key, sockets);
  }
  return sockets;
}

/** Dumps the IPv4 or IPv6 (`family`) socket of `f`; returns its file id. */
export function dumpInetSocket(f: FdFacts, ctx: FdDumpContext, opts: { family: number; nsId: number }): number {
  const { family, nsId } = opts;
  const fam = family === AF.INET6 ? 'IPv6' : 'IPv4';
  const type = getsockoptInt(f.local, { level: SOL.SOCKET, name: SO.TYPE });
  const proto = getsockoptInt(f.local, { level: SOL.SOCKET, name: SO.PROTOCOL });
  const refuse = (what: string): never => {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, what);
  };
  if (type !== SOCK.STREAM && type !== SOCK.DGRAM && type !== SOCK.RAW) refuse(`${fam} socket ${f.link} of type ${type} is not supported`);
  const udp = type === SOCK.DGRAM && (proto === IPPROTO.UDP || proto === NET.IPPROTO_UDPLITE);
  // Raw sockets (any protocol) and ICMP "ping" sockets: addresses from the socket itself.
  const raw = type === SOCK.RAW;
  const ping = type === SOCK.DGRAM && (proto === NET.IPPROTO_ICMP || proto === NET.IPPROTO_ICMPV6);
  if (!udp && !raw && !ping && !(type === SOCK.STREAM && proto === IPPROTO.TCP)) refuse(`${fam} socket ${f.link} of type ${type} and protocol ${proto} is not supported`);

  const ino = Number(f.stat.ino);
  const diag = raw || ping ? undefined : listed(ctx, family, proto).get(ino);
  const sk = diag === undefined ? unlisted(f, family, proto === IPPROTO.TCP && type === SOCK.STREAM) : fromDiag(diag);
  const where = `${endpoint(family, sk.src, sk.srcPort)}`;
  if (ping) {
    // getpeername() refuses a ping socket (its "port" is 0); /proc/PID/net/icmp shows the peer.
    const row = procIcmpRow(f.pid, family, ino);
    if (row !== undefined && row.state === TCP_STATE.ESTABLISHED) {
      sk.dst = row.remote;
      sk.state = TCP_STATE.ESTABLISHED;
    }
  } else if (raw) {
    // Never in a sock_diag listing here: "connected" is a peer address, as CRIU sees it.
    if (sk.dstPort !== 0 || sk.dst.some((b) => b !== 0)) sk.state = TCP_STATE.ESTABLISHED;
  } else if (udp) {
    if (getsockoptInt(f.local, { level: NET.SOL_UDP, name: NET.UDP_CORK }) !== 0) refuse(`UDP socket ${f.link} on ${where} is corked (a datagram is being built)`);
  } else if (sk.state === TCP_STATE.LISTEN) {
    // CRIU's --skip-in-flight: connections still in the accept queue are let go (their peers
    // see a reset once the listener is gone); without it they stop the dump.
    if (sk.rqueue !== 0 && !ctx.options.skipInFlight) {
      refuse(`TCP listener ${f.link} on ${where} has ${sk.rqueue} connection(s) not accepted yet, which would be lost (--skip-in-flight lets them go)`);
    }
  } else if (sk.state !== TCP_STATE.CLOSE) {
    const conn = `TCP connection ${f.link} ${where} -> ${endpoint(family, sk.dst, sk.dstPort)}`;
    const tcp = ctx.options.tcp;
    if (tcp === undefined) return refuse(`${conn} is ${STATE_NAMES[sk.state] ?? sk.state}: dumping it needs --tcp-established (or --tcp-close)`);
    if (!isRepairableState(sk.state)) refuse(`${conn} is ${STATE_NAMES[sk.state] ?? sk.state}, a state that is not dumped`);
    if (tcp !== 'close') {
      let saved;
      try {
        saved = tcp.checkpoint(f.local, lockedConnection(family, sk));
      } catch (err) {
        // Its state moved on between sock_diag's listing and repair mode to one that is not
        // saved: refused like the listing's state would have been.
        if (err instanceof TcpRepairError && err.code === 'TCP_REPAIR_STATE') refuse(`${conn}: ${err.message}`);
        throw err;
      }
      // The state seen in repair mode, under the lock, is the one the queues belong to.
      sk.state = saved.state;
      writeEntries(ctx.options.writer!, 'tcpStream', ino, [tcpStreamEntry(saved)]);
    }
  }

  const words = family === AF.INET6 ? 4 : 1;
  const entry: Omit<InetSkEntry, 'id'> = {
    ino,
    family,
    type,
    proto,
    state: sk.state,
    src_port: sk.srcPort,
    dst_port: sk.dstPort,
    flags: f.flags,
    backlog: sk.wqueue,
    src_addr: addressWords(sk.src, words),
    dst_addr: addressWords(sk.dst, words),
    fown: f.fown,
    opts: dumpSocketOpts(f.local, family),
  };
  if (family === AF.INET6) {
    entry.v6only = getsockoptInt(f.local, { level: SOL.IPV6, name: NET.IPV6_V6ONLY }) !== 0;
  }
  entry.ip_opts = raw ? dumpIpRawOpts(f.local, family, proto) : dumpIpOpts(f.local, family);
  if (family === AF.INET6 && sk.srcPort !== 0 && isLinkLocal(sk.src)) {
    // A link-local address is bound with its interface: restore needs the name.
    const dev = getsockopt(f.local, { level: SOL.SOCKET, name: SO.BINDTODEVICE }, { size: 16 });
    if (dev.length === 0) throw new FdDumpError('FD_FAILED', f.pid, f.fd, `IPv6 socket ${f.link} on link-local ${where} is bound to no interface`);
    entry.ifname = dev.subarray(0, dev.indexOf(0) < 0 ? dev.length : dev.indexOf(0)).toString('utf8');
  }
  if (sk.listed) entry.ns_id = nsId;
  if (sk.shutdown !== 0) entry.shutdown = sk.shutdown;
  // CRIU always attaches tcp_opts (empty but for TCP).
  entry.tcp_opts = proto === IPPROTO.TCP && !raw ? dumpTcpOpts(f.local) : {};
  return ctx.files.add('INETSK', (id) => ({ isk: { id, ...entry } }));
}

function fromDiag(d: InetSocketDiag): InetFacts {
  return { state: d.state, srcPort: d.srcPort, dstPort: d.dstPort, src: d.src, dst: d.dst, rqueue: d.rqueue, wqueue: d.wqueue, shutdown: d.shutdown ?? 0, listed: true };
}

/**
 * A socket in no sock_diag table (never bound UDP, closed TCP): its addresses from getsockname
 * and getpeername; for TCP, TCP_INFO must say closed (its backoff is what CRIU records as the
 * backlog) and a receive shut down shows as a peek that returns 0.
 */
function unlisted(f: FdFacts, family: number, tcp: boolean): InetFacts {
  const len = family === AF.INET6 ? 16 : 4;
  const [src, srcPort] = addressOf(getsockname(f.local), len);
  let dst: Buffer = Buffer.alloc(len);
  let dstPort = 0;
  try {
    [dst, dstPort] = addressOf(getpeername(f.local), len);
  } catch (err) {
    if (!isSysError(err, 'ENOTCONN')) throw err;
  }
  const out: InetFacts = { state: TCP_STATE.CLOSE, srcPort, dstPort, src, dst, rqueue: 0, wqueue: 0, shutdown: 0, listed: false };
  if (tcp) {
    const info = getsockopt(f.local, { level: SOL.TCP, name: NET.TCP_INFO }, { size: 8 }); // tcpi_state, ca_state, retransmits, probes, backoff, ...
    if (info[0] !== TCP_STATE.CLOSE) {
      throw new FdDumpError('FD_FAILED', f.pid, f.fd, `TCP socket ${f.link} is in state ${STATE_NAMES[info[0]!] ?? info[0]}, but sock_diag does not list it`);
    }
    out.wqueue = info[4]!;
    out.shutdown = receiveShutDown(f.local) ? 1 : 0;
  }
  return out;
}

/** Whether a closed TCP socket's receive side is shut down: a peek then returns 0, not ENOTCONN. */
function receiveShutDown(fd: number): boolean {
  try {
    return recvmsg(fd, Buffer.alloc(1), { flags: MSG.PEEK | MSG.DONTWAIT }).bytes === 0;
  } catch (err) {
    if (isSysError(err, 'ENOTCONN') || isSysError(err, 'EAGAIN')) return false;
    throw err;
  }
}

function addressOf(addr: SockAddr, len: number): [Buffer, number] {
  if (addr.family === 'inet' && len === 4) return [parseIPv4(addr.address), addr.port];
  if (addr.family === 'inet6' && len === 16) return [parseIPv6(addr.address), addr.port];
  return [Buffer.alloc(len), 0];
}

/** An address as CRIU stores it: its network-order bytes read as host-order 32-bit words. */
function addressWords(addr: Buffer, words: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < words; i++) out.push(addr.readUInt32LE(i * 4));
  return out;
}

/**
 * The row of ping socket `ino` in /proc/PID/net/icmp (icmp6): its state and remote address. The
 * address columns are the 32-bit words of the network-order address, printed as host-order hex.
 */
function procIcmpRow(pid: number, family: number, ino: number): { state: number; remote: Buffer } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/${family === AF.INET6 ? 'icmp6' : 'icmp'}`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10 || Number(cols[9]) !== ino) continue;
    const hex = cols[2]!.split(':')[0]!;
    const remote = Buffer.alloc(hex.length / 2);
    for (let i = 0; i < hex.length / 8; i++) remote.writeUInt32LE(parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0, i * 4);
    return { state: parseInt(cols[3]!, 16), remote };
  }
  return undefined;
}

/** The connection as the network lock names it. */
function lockedConnection(family: number, sk: InetFacts): LockedConnection {
  const v6 = family === AF.INET6;
  const text = (a: Buffer) => (v6 ? formatIPv6(a) : formatIPv4(a));
  return { family: v6 ? 6 : 4, localAddress: text(sk.src), localPort: sk.srcPort, remoteAddress: text(sk.dst), remotePort: sk.dstPort };
}

/** fe80::/10 */
function isLinkLocal(addr: Buffer): boolean {
  return addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80;
}

function endpoint(family: number, addr: Buffer, port: number): string {
  return family === AF.INET6 ? `[${formatIPv6(addr)}]:${port}` : `${formatIPv4(addr)}:${port}`;
}

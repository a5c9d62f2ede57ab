/**
 * IPv4 and IPv6 sockets (files.img INETSK), opened in the driver:
 *
 * - UDP and UDP-Lite, ICMP "ping" sockets and raw sockets: bound and connected again (a connect
 *   sends nothing), raw ones with their header-included, no-defragmentation and ICMP filter options;
 * - TCP listeners: bound and listening with their backlog;
 * - TCP sockets never connected (CLOSE): bound again if they were;
 * - TCP connections, established, half-closed (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK,
 *   CLOSING) or opening (SYN_SENT): with `--tcp-established`, rebuilt in repair mode from their
 *   tcp-stream-<inode>.img and brought to the state their inet_sk_entry records
 *   (src/net/tcp_repair.ts, tcp_half_closed.ts), and left in repair mode until the whole tree is
 *   back (`resumeConnections`); other states are refused; with `--tcp-close` (or images dumped so), a socket
 *   bound to the connection's local address and nothing more, as CRIU restores them.
 *
 * Binding: a TCP socket in repair mode binds whatever address it is given (the kernel forces the
 * reuse), so the two ends of a connection and its listener never collide; a listener gets
 * `SO_REUSEADDR` for its bind, then the option as it was.
 *
 * Options (socket, IP and TCP level) are set back before the bind; `IPV6_V6ONLY` too.
 */
import type { FileEntry, InetSkEntry, IpOptsEntry, TcpOptsEntry } from '../../images/generated/types.js';
import { readEntriesWithExtra } from '../../images/typed.js';
import { NET, TCP_STATE } from '../../net/constants.js';
import { isRepairableState } from '../../net/tcp_half_closed.js';
import { fromTcpStreamEntry, rebuildConnection, setRepair } from '../../net/tcp_repair.js';
import {
  AF, F, IPPROTO, O, SO, SOCK, SOL, TCP, bind, connect, fcntl, formatIPv4, formatIPv6, listen, setsockopt, shutdown, socket, type SockAddr,
} from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { FileKindOpener, OpenContext } from './kind.js';
import { restoreSocketOpts, setReuseAddr } from './sk_opts.js';

const STATE_NAMES = Object.fromEntries(Object.entries(TCP_STATE).map(([k, v]) => [v, k])) as Record<number, string>;

/** The connected TCP states, all rebuilt. */
const CONNECTED = new Set<number>([
  TCP_STATE.ESTABLISHED, TCP_STATE.SYN_SENT, TCP_STATE.FIN_WAIT1, TCP_STATE.FIN_WAIT2, TCP_STATE.CLOSE_WAIT, TCP_STATE.LAST_ACK, TCP_STATE.CLOSING,
]);

/** Whether an inet socket entry is a TCP connection (what needs `--tcp-established`). */
export function isTcpConnection(sk: InetSkEntry): boolean {
  return sk.proto === IPPROTO.TCP && sk.type === SOCK.STREAM && CONNECTED.has(sk.state);
}

/**
 * Why the TCP socket `sk` cannot be rebuilt with --tcp-established (a state no socket with an fd
 * is dumped in: SYN_RECV, TIME_WAIT, a number that is no state), or undefined when it can.
 */
export function unrestorableConnection(sk: InetSkEntry): string | undefined {
  if (sk.proto !== IPPROTO.TCP || sk.type !== SOCK.STREAM) return undefined;
  if (sk.state === TCP_STATE.LISTEN || sk.state === TCP_STATE.CLOSE || isRepairableState(sk.state)) return undefined;
  return `${describe(sk)} is ${STATE_NAMES[sk.state] ?? sk.state}: only established, opening (SYN_SENT) and half-closed connections (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING) are restored`;
}

export const INET_OPENER: FileKindOpener = {
  kind: 'INETSK',
  open(entry: FileEntry, ctx: OpenContext): number {
    const sk = entry.isk!;
    const name = describe(sk);
    const fd = socket(sk.family, sk.type | SOCK.CLOEXEC, { protocol: sk.proto, what: `create ${name}` });
    ctx.opened.push(fd);
    // Only when on (off is the default, and a raw socket refuses the option either way).
    if (sk.family === AF.INET6 && sk.v6only === true) {
      setsockopt(fd, { level: SOL.IPV6, name: NET.IPV6_V6ONLY, value: 1 }, { what: `set IPV6_V6ONLY of ${name}` });
    }
    restoreSocketOpts(fd, sk.opts, name);
    if (sk.opts.so_reuseport) setsockopt(fd, { level: SOL.SOCKET, name: SO.REUSEPORT, value: 1 }, { what: `set SO_REUSEPORT of ${name}` });
    if (sk.type === SOCK.RAW) restoreIpRawOpts(fd, sk, name);
    else restoreIpOpts(fd, sk.family, sk.ip_opts, name);
    if (sk.proto === IPPROTO.TCP && sk.tcp_opts !== undefined) restoreTcpOpts(fd, sk.tcp_opts, name);

    if (sk.proto === IPPROTO.TCP && sk.type === SOCK.STREAM) openTcp(fd, sk, ctx, name);
    else openDatagram(fd, sk, name);

    fcntl(fd, F.SETFL, { arg: sk.flags & ~O.ACCMODE & ~O.CLOEXEC, what: `set the flags of ${name}` });
    return fd;
  },
};

function openTcp(fd: number, sk: InetSkEntry, ctx: OpenContext, name: string): void {
  if (sk.state === TCP_STATE.LISTEN) {
    setReuseAddr(fd, true, name);
    bind(fd, local(sk), { what: `bind ${name}` });
    listen(fd, { backlog: sk.backlog, what: `listen on ${name}` });
    setReuseAddr(fd, sk.opts.reuseaddr ?? false, name);
    return;
  }
  if (sk.state === TCP_STATE.CLOSE) {
    if (sk.src_port !== 0) bindForced(fd, sk, name);
    else setReuseAddr(fd, sk.opts.reuseaddr ?? false, name);
    return;
  }
  const mode = ctx.options.tcp;
  if (mode === 'close' || ctx.tcpClosedInImages) {
    // CRIU's --tcp-close: the socket keeps its local address, the connection is gone.
    bindForced(fd, sk, name);
    return;
  }
  if (mode !== 'established') {
    throw new RestoreError('RESTORE_UNSUPPORTED', `${name} is a connected TCP socket: restoring it needs --tcp-established (or --tcp-close)`, { image: 'files.img' });
  }
  const refused = unrestorableConnection(sk); // restore.ts checks this first, naming the task and fd
  if (refused !== undefined) throw new RestoreError('RESTORE_UNSUPPORTED', refused, { image: 'files.img' });
  const image = `tcp-stream-${sk.ino.toString(16)}.img`;
  const stream = readEntriesWithExtra(ctx.plan.images, 'tcpStream', sk.ino)[0];
  if (stream === undefined) throw new RestoreError('RESTORE_FAILED', `${name}: ${image} holds no connection`, { image });
  const extra = stream.extra as { inq: Uint8Array; outq: Uint8Array };
  const saved = fromTcpStreamEntry(stream.entry, extra, sk.state);
  setRepair(fd, true);
  rebuildConnection(fd, saved, local(sk), remote(sk));
  ctx.repaired.push({ fd, saved, what: name, reuseAddr: sk.opts.reuseaddr ?? false });
}

/** Binds in repair mode, which forces the address's reuse, then leaves it (the socket is closed). */
function bindForced(fd: number, sk: InetSkEntry, name: string): void {
  setRepair(fd, true);
  bind(fd, local(sk), { what: `bind ${name}` });
  setRepair(fd, false);
  setReuseAddr(fd, sk.opts.reuseaddr ?? false, name);
  if (sk.shutdown) shutdownIgnoringNotConnected(fd, sk.shutdown);
}

/**
 * UDP, ICMP "ping" and raw sockets: bound where they were (a ping socket's port is its echo id, a
 * raw socket's is its protocol, which its bind ignores), connected if they had a peer.
 */
function openDatagram(fd: number, sk: InetSkEntry, name: string): void {
  setReuseAddr(fd, sk.opts.reuseaddr ?? false, name);
  if (sk.src_port !== 0 || nonZero(sk.src_addr)) bind(fd, sk.type === SOCK.RAW ? { ...local(sk), port: 0 } as SockAddr : local(sk), { what: `bind ${name}` });
  if (sk.dst_port !== 0 || (sk.state === TCP_STATE.ESTABLISHED && nonZero(sk.dst_addr))) connect(fd, remote(sk), { what: `connect ${name}` });
  if (sk.shutdown) shutdownIgnoringNotConnected(fd, sk.shutdown);
}

/** sk_shutdown: 1 read, 2 write, 3 both; SHUT_* is that minus one. */
function shutdownIgnoringNotConnected(fd: number, how: number): void {
  try {
    shutdown(fd, how - 1);
  } catch {
    // an unconnected socket: nothing to shut down (CRIU ignores ENOTCONN too)
  }
}

function restoreIpOpts(fd: number, family: number, opts: IpOptsEntry | undefined, name: string): void {
  if (opts === undefined) return;
  const set = (level: number, opt: number, value: number, label: string) => setsockopt(fd, { level, name: opt, value }, { what: `set ${label} of ${name}` });
  if (family === AF.INET6) {
    if (opts.freebind) set(SOL.IPV6, NET.IPV6_FREEBIND, 1, 'IPV6_FREEBIND');
    if (opts.pktinfo) set(SOL.IPV6, NET.IPV6_RECVPKTINFO, 1, 'IPV6_RECVPKTINFO');
    return;
  }
  if (opts.freebind) set(SOL.IP, NET.IP_FREEBIND, 1, 'IP_FREEBIND');
  if (opts.pktinfo) set(SOL.IP, NET.IP_PKTINFO, 1, 'IP_PKTINFO');
  if (opts.tos) set(SOL.IP, NET.IP_TOS, opts.tos, 'IP_TOS');
  if (opts.ttl) set(SOL.IP, NET.IP_TTL, opts.ttl, 'IP_TTL');
}

/** The raw part of ip_opts_entry: header included, no defragmentation, the ICMP type filter. */
function restoreIpRawOpts(fd: number, sk: InetSkEntry, name: string): void {
  const raw = sk.ip_opts?.raw;
  if (raw === undefined) return;
  const v6 = sk.family === AF.INET6;
  const set = (level: number, opt: number, value: number | ArrayBufferView, label: string) => setsockopt(fd, { level, name: opt, value }, { what: `set ${label} of ${name}` });
  if (raw.hdrincl) set(v6 ? SOL.IPV6 : SOL.IP, v6 ? NET.IPV6_HDRINCL : NET.IP_HDRINCL, 1, 'the header-included option');
  if (raw.nodefrag) set(SOL.IP, NET.IP_NODEFRAG, 1, 'IP_NODEFRAG');
  const filter = raw.icmpv_filter ?? [];
  if (filter.length > 0) {
    const words = Uint32Array.from(filter);
    if (v6 && sk.proto === NET.IPPROTO_ICMPV6) set(NET.IPPROTO_ICMPV6, NET.ICMPV6_FILTER, words, 'ICMPV6_FILTER');
    if (!v6 && sk.proto === NET.IPPROTO_ICMP) set(NET.SOL_RAW, NET.ICMP_FILTER, words, 'ICMP_FILTER');
  }
}

function nonZero(words: readonly number[] | undefined): boolean {
  return (words ?? []).some((w) => w !== 0);
}

function restoreTcpOpts(fd: number, opts: TcpOptsEntry, name: string): void {
  const set = (opt: number, value: number, label: string) => setsockopt(fd, { level: SOL.TCP, name: opt, value }, { what: `set ${label} of ${name}` });
  if (opts.nodelay) set(TCP.NODELAY, 1, 'TCP_NODELAY');
  if (opts.cork) set(TCP.CORK, 1, 'TCP_CORK');
  if (opts.keepcnt) set(TCP.KEEPCNT, opts.keepcnt, 'TCP_KEEPCNT');
  if (opts.keepidle) set(TCP.KEEPIDLE, opts.keepidle, 'TCP_KEEPIDLE');
  if (opts.keepintvl) set(TCP.KEEPINTVL, opts.keepintvl, 'TCP_KEEPINTVL');
}

/** An address of the image (words of network-order bytes, read little-endian) as text. */
function addressText(family: number, words: readonly number[]): string {
  const buf = Buffer.alloc(family === AF.INET6 ? 16 : 4);
  words.forEach((w, i) => buf.writeUInt32LE(w >>> 0, i * 4));
  return family === AF.INET6 ? formatIPv6(buf) : formatIPv4(buf);
}

function sockAddr(sk: InetSkEntry, words: readonly number[], port: number): SockAddr {
  const address = addressText(sk.family, words);
  return sk.family === AF.INET6 ? { family: 'inet6', address, port } : { family: 'inet', address, port };
}

const local = (sk: InetSkEntry): SockAddr => sockAddr(sk, sk.src_addr ?? [], sk.src_port);
const remote = (sk: InetSkEntry): SockAddr => sockAddr(sk, sk.dst_addr ?? [], sk.dst_port);

/** `TCP socket 127.0.0.1:45060 -> 127.0.0.1:47001 (file 18)` */
function describe(sk: InetSkEntry): string {
  const proto =
    sk.type === SOCK.RAW ? `raw (protocol ${sk.proto})`
      : sk.proto === IPPROTO.TCP ? 'TCP'
        : sk.proto === IPPROTO.UDP ? 'UDP'
          : sk.proto === NET.IPPROTO_UDPLITE ? 'UDP-Lite'
            : sk.proto === NET.IPPROTO_ICMP || sk.proto === NET.IPPROTO_ICMPV6 ? 'ICMP ping'
              : `protocol ${sk.proto}`;
  const at = (words: readonly number[] | undefined, port: number) => {
    const a = addressText(sk.family, words ?? []);
    return sk.family === AF.INET6 ? `[${a}]:${port}` : `${a}:${port}`;
  };
  const peer = sk.dst_port !== 0 ? ` -> ${at(sk.dst_addr, sk.dst_port)}` : '';
  return `${proto} socket ${at(sk.src_addr, sk.src_port)}${peer} (file ${sk.id})`;
}

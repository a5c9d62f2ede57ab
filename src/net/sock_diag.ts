/**
 * sock_diag: what the kernel tells of sockets through `NETLINK_SOCK_DIAG` (`SOCK_DIAG_BY_FAMILY`)
 * that no socket option does — a Unix socket's peer, its pending connections, its queue lengths,
 * its shutdown state, the state and queues of an inet socket — parsed into plain objects keyed by
 * socket inode. Only the sockets of the caller's network namespace are listed.
 */

import { AF, IPPROTO, isSysError } from '../sys/index.js';
import { defineLayout, fieldBytes, getNum, setField } from '../sys/layout.js';
import { NETLINK, NLM_F, netlinkRequest, parseAttributes, type NetlinkMessage } from '../sys/netlink.js';

/** `SOCK_DIAG_BY_FAMILY`: the message type of every request here. */
export const SOCK_DIAG_BY_FAMILY = 20;

/** `struct unix_diag_req` */
export const UNIX_DIAG_REQ = defineLayout('unix_diag_req', 24, {
  sdiag_family: [0, 'u8'],
  sdiag_protocol: [1, 'u8'],
  pad: [2, 'u16'],
  udiag_states: [4, 'u32'],
  udiag_ino: [8, 'u32'],
  udiag_show: [12, 'u32'],
  udiag_cookie: [16, 'bytes', 8],
});

/** `struct unix_diag_msg` */
export const UNIX_DIAG_MSG = defineLayout('unix_diag_msg', 16, {
  udiag_family: [0, 'u8'],
  udiag_type: [1, 'u8'],
  udiag_state: [2, 'u8'],
  pad: [3, 'u8'],
  udiag_ino: [4, 'u32'],
  udiag_cookie: [8, 'bytes', 8],
});

/** `struct unix_diag_vfs`: the inode a bound socket's file has, and its device. */
export const UNIX_DIAG_VFS = defineLayout('unix_diag_vfs', 8, {
  udiag_vfs_ino: [0, 'u32'],
  udiag_vfs_dev: [4, 'u32'],
});

/** `struct unix_diag_rqlen` */
export const UNIX_DIAG_RQLEN = defineLayout('unix_diag_rqlen', 8, {
  udiag_rqueue: [0, 'u32'],
  udiag_wqueue: [4, 'u32'],
});

/** `struct inet_diag_sockid`; ports and addresses in network byte order. */
export const INET_DIAG_SOCKID = defineLayout('inet_diag_sockid', 48, {
  idiag_sport: [0, 'bytes', 2],
  idiag_dport: [2, 'bytes', 2],
  idiag_src: [4, 'bytes', 16],
  idiag_dst: [20, 'bytes', 16],
  idiag_if: [36, 'u32'],
  idiag_cookie: [40, 'bytes', 8],
});

/** `struct inet_diag_req_v2` */
export const INET_DIAG_REQ_V2 = defineLayout('inet_diag_req_v2', 56, {
  sdiag_family: [0, 'u8'],
  sdiag_protocol: [1, 'u8'],
  idiag_ext: [2, 'u8'],
  pad: [3, 'u8'],
  idiag_states: [4, 'u32'],
  id: [8, 'bytes', 48],
});

/** `struct inet_diag_msg` */
export const INET_DIAG_MSG = defineLayout('inet_diag_msg', 72, {
  idiag_family: [0, 'u8'],
  idiag_state: [1, 'u8'],
  idiag_timer: [2, 'u8'],
  idiag_retrans: [3, 'u8'],
  id: [4, 'bytes', 48],
  idiag_expires: [52, 'u32'],
  idiag_rqueue: [56, 'u32'],
  idiag_wqueue: [60, 'u32'],
  idiag_uid: [64, 'u32'],
  idiag_inode: [68, 'u32'],
});

/** The sock_diag layouts, for the header probe test. */
export const SOCK_DIAG_LAYOUTS = [UNIX_DIAG_REQ, UNIX_DIAG_MSG, UNIX_DIAG_VFS, UNIX_DIAG_RQLEN, INET_DIAG_SOCKID, INET_DIAG_REQ_V2, INET_DIAG_MSG] as const;

/** What a Unix request asks to be shown (`UDIAG_SHOW_*`); the shutdown state always comes. */
export const UDIAG_SHOW = Object.freeze({ NAME: 0x1, VFS: 0x2, PEER: 0x4, ICONS: 0x8, RQLEN: 0x10, MEMINFO: 0x20, UID: 0x40 });

/** Attributes of a Unix reply (`UNIX_DIAG_*`). */
export const UNIX_DIAG = Object.freeze({ NAME: 0, VFS: 1, PEER: 2, ICONS: 3, RQLEN: 4, MEMINFO: 5, SHUTDOWN: 6, UID: 7 });

/** Attributes of an inet reply (`INET_DIAG_*`, those read here). */
export const INET_DIAG = Object.freeze({ SHUTDOWN: 8, SKV6ONLY: 11 });

/** `INET_DIAG_NOCOOKIE`: "any socket cookie", for the two cookie words of an exact request. */
const NOCOOKIE = 0xffffffff;

/** Every constant of this module under its C name, for the header probe test. */
export function sockDiagConstantEntries(): Array<[string, number]> {
  return [
    ['SOCK_DIAG_BY_FAMILY', SOCK_DIAG_BY_FAMILY],
    ['INET_DIAG_NOCOOKIE', NOCOOKIE],
    ...Object.entries(UDIAG_SHOW).map(([k, v]): [string, number] => [`UDIAG_SHOW_${k}`, v]),
    ...Object.entries(UNIX_DIAG).map(([k, v]): [string, number] => [`UNIX_DIAG_${k}`, v]),
    ...Object.entries(INET_DIAG).map(([k, v]): [string, number] => [`INET_DIAG_${k}`, v]),
  ];
}

/** A Unix socket as sock_diag shows it. */
export interface UnixSocketDiag {
  ino: number;
  /** `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`. */
  type: number;
  /** `TCP_LISTEN`, `TCP_ESTABLISHED` or `TCP_CLOSE`. */
  state: number;
  /**
   * The address it is bound to (`UNIX_DIAG_NAME`): an abstract name with its leading NUL, or a path
   * with its trailing NUL, as the kernel keeps it. Absent for an unbound socket.
   */
  name?: Buffer;
  /** The socket file of a path-bound socket: its inode and (kernel-encoded) device. */
  vfs?: { ino: number; dev: number };
  /** The peer's inode (0 when the peer is gone); absent when not connected. */
  peer?: number;
  /** A listener's pending connections: the inodes of the connecting sockets (0 when closed). */
  icons?: number[];
  /**
   * Queue lengths: for a listener, pending connections and the backlog; otherwise bytes queued to
   * be read (a datagram socket: of the first datagram only) and bytes sent not yet read by the peer.
   */
  rqlen?: { rqueue: number; wqueue: number };
  /** `RCV_SHUTDOWN` (1) and `SEND_SHUTDOWN` (2) bits. */
  shutdown?: number;
}

/** What the dump asks of every Unix socket (CRIU asks the same). */
const UNIX_SHOW = UDIAG_SHOW.NAME | UDIAG_SHOW.VFS | UDIAG_SHOW.PEER | UDIAG_SHOW.ICONS | UDIAG_SHOW.RQLEN;

function unixRequest(ino: number): Buffer {
  const req = Buffer.alloc(UNIX_DIAG_REQ.size);
  setField(req, UNIX_DIAG_REQ, 'sdiag_family', AF.UNIX);
  setField(req, UNIX_DIAG_REQ, 'udiag_states', 0xffffffff);
  setField(req, UNIX_DIAG_REQ, 'udiag_ino', ino);
  setField(req, UNIX_DIAG_REQ, 'udiag_show', UNIX_SHOW);
  if (ino !== 0) fieldBytes(req, UNIX_DIAG_REQ, 'udiag_cookie').fill(0xff);
  return req;
}

/**
 * Every Unix socket of this network namespace, by inode (`SOCK_DIAG_BY_FAMILY` dump with
 * `UDIAG_SHOW_NAME | VFS | PEER | ICONS | RQLEN`).
 */
export function unixSockets(): Map<number, UnixSocketDiag> {
  const replies = netlinkRequest(NETLINK.SOCK_DIAG, {
    type: SOCK_DIAG_BY_FAMILY,
    flags: NLM_F.DUMP,
    payload: unixRequest(0),
    what: 'list the Unix sockets (sock_diag)',
  });
  const out = new Map<number, UnixSocketDiag>();
  for (const m of replies) {
    const sk = parseUnix(m);
    out.set(sk.ino, sk);
  }
  return out;
}

/** The Unix socket with inode `ino` (an exact sock_diag request), or undefined when there is none. */
export function unixSocket(ino: number): UnixSocketDiag | undefined {
  try {
    const [m] = netlinkRequest(NETLINK.SOCK_DIAG, { type: SOCK_DIAG_BY_FAMILY, payload: unixRequest(ino), what: `look up Unix socket ${ino} (sock_diag)` });
    return m === undefined ? undefined : parseUnix(m);
  } catch (err) {
    if (isSysError(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function parseUnix(m: NetlinkMessage): UnixSocketDiag {
  const p = m.payload;
  const sk: UnixSocketDiag = {
    ino: getNum(p, UNIX_DIAG_MSG, 'udiag_ino'),
    type: getNum(p, UNIX_DIAG_MSG, 'udiag_type'),
    state: getNum(p, UNIX_DIAG_MSG, 'udiag_state'),
  };
  const attrs = parseAttributes(p.subarray(UNIX_DIAG_MSG.size));
  const name = attrs.get(UNIX_DIAG.NAME);
  if (name !== undefined) sk.name = Buffer.from(name);
  const vfs = attrs.get(UNIX_DIAG.VFS);
  if (vfs !== undefined) sk.vfs = { ino: getNum(vfs, UNIX_DIAG_VFS, 'udiag_vfs_ino'), dev: getNum(vfs, UNIX_DIAG_VFS, 'udiag_vfs_dev') };
  const peer = attrs.get(UNIX_DIAG.PEER);
  if (peer !== undefined) sk.peer = peer.readUInt32LE(0);
  const icons = attrs.get(UNIX_DIAG.ICONS);
  if (icons !== undefined) {
    sk.icons = [];
    for (let i = 0; i + 4 <= icons.length; i += 4) sk.icons.push(icons.readUInt32LE(i));
  }
  const rqlen = attrs.get(UNIX_DIAG.RQLEN);
  if (rqlen !== undefined) sk.rqlen = { rqueue: getNum(rqlen, UNIX_DIAG_RQLEN, 'udiag_rqueue'), wqueue: getNum(rqlen, UNIX_DIAG_RQLEN, 'udiag_wqueue') };
  const shutdown = attrs.get(UNIX_DIAG.SHUTDOWN);
  if (shutdown !== undefined) sk.shutdown = shutdown.readUInt8(0);
  return sk;
}

/** An IPv4 or IPv6 socket as sock_diag shows it. */
export interface InetSocketDiag {
  ino: number;
  family: number;
  protocol: number;
  /** A `TCP_*` state (UDP: `TCP_CLOSE` unconnected, `TCP_ESTABLISHED` connected). */
  state: number;
  srcPort: number;
  dstPort: number;
  /** The local and remote addresses in network byte order: 4 bytes (IPv4) or 16. */
  src: Buffer;
  dst: Buffer;
  /** The interface the socket is bound to (0: none). */
  ifindex: number;
  /** TCP listener: pending connections and backlog; otherwise bytes queued to be read and sent. */
  rqueue: number;
  wqueue: number;
  uid: number;
  /** `RCV_SHUTDOWN` (1) and `SEND_SHUTDOWN` (2) bits. */
  shutdown?: number;
}

/** Options of inetSockets. */
export interface InetQueryOptions {
  /** The `TCP_*` states to list, as a bit mask (`1 << state`); all when absent. */
  states?: number;
}

/**
 * The sockets of one family (`AF.INET`, `AF.INET6`) and protocol (`IPPROTO.TCP`, `IPPROTO.UDP`,
 * UDP-Lite) in this network namespace, by inode (`inet_diag_req_v2` dump). An unbound UDP socket
 * and a closed TCP socket are in no table and are never listed.
 */
export function inetSockets(family: number, protocol: number, opts?: InetQueryOptions): Map<number, InetSocketDiag> {
  const req = Buffer.alloc(INET_DIAG_REQ_V2.size);
  setField(req, INET_DIAG_REQ_V2, 'sdiag_family', family);
  setField(req, INET_DIAG_REQ_V2, 'sdiag_protocol', protocol);
  setField(req, INET_DIAG_REQ_V2, 'idiag_states', opts?.states ?? 0xffffffff);
  const replies = netlinkRequest(NETLINK.SOCK_DIAG, {
    type: SOCK_DIAG_BY_FAMILY,
    flags: NLM_F.DUMP,
    payload: req,
    what: `list the ${family === AF.INET6 ? 'IPv6' : 'IPv4'} ${protocolName(protocol)} sockets (sock_diag)`,
  });
  const out = new Map<number, InetSocketDiag>();
  for (const m of replies) {
    const sk = parseInet(m, protocol);
    out.set(sk.ino, sk);
  }
  return out;
}

function protocolName(protocol: number): string {
  return protocol === IPPROTO.TCP ? 'TCP' : protocol === IPPROTO.UDP ? 'UDP' : `protocol ${protocol}`;
}

function parseInet(m: NetlinkMessage, protocol: number): InetSocketDiag {
  const p = m.payload;
  const family = getNum(p, INET_DIAG_MSG, 'idiag_family');
  const id = fieldBytes(p, INET_DIAG_MSG, 'id');
  const addrLen = family === AF.INET6 ? 16 : 4;
  const sk: InetSocketDiag = {
    ino: getNum(p, INET_DIAG_MSG, 'idiag_inode'),
    family,
    protocol,
    state: getNum(p, INET_DIAG_MSG, 'idiag_state'),
    srcPort: fieldBytes(id, INET_DIAG_SOCKID, 'idiag_sport').readUInt16BE(0),
    dstPort: fieldBytes(id, INET_DIAG_SOCKID, 'idiag_dport').readUInt16BE(0),
    src: Buffer.from(fieldBytes(id, INET_DIAG_SOCKID, 'idiag_src').subarray(0, addrLen)),
    dst: Buffer.from(fieldBytes(id, INET_DIAG_SOCKID, 'idiag_dst').subarray(0, addrLen)),
    ifindex: getNum(id, INET_DIAG_SOCKID, 'idiag_if'),
    rqueue: getNum(p, INET_DIAG_MSG, 'idiag_rqueue'),
    wqueue: getNum(p, INET_DIAG_MSG, 'idiag_wqueue'),
    uid: getNum(p, INET_DIAG_MSG, 'idiag_uid'),
  };
  const shutdown = parseAttributes(p.subarray(INET_DIAG_MSG.size)).get(INET_DIAG.SHUTDOWN);
  if (shutdown !== undefined) sk.shutdown = shutdown.readUInt8(0);
  return sk;
}

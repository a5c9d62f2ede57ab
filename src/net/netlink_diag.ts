/**
 * What the kernel tells of AF_NETLINK sockets through sock_diag (`netlink_diag`), and the
 * `SOL_NETLINK` options that set the same state again: a socket's port id, the multicast groups
 * it listens to (every group, not only the first 32 a bind() can name), the port and group it is
 * connected to, and whether a dump it asked for is still being produced. Only the sockets of the
 * caller's network namespace are listed, and only those bound to a port id or to groups: a socket
 * never bound nor used is in no table.
 */

import { AF } from '../sys/index.js';
import { defineLayout, getNum, setField } from '../sys/layout.js';
import { NETLINK, NLM_F, netlinkRequest, parseAttributes, type NetlinkMessage } from '../sys/netlink.js';
import { SOCK_DIAG_BY_FAMILY } from './sock_diag.js';

/** `struct netlink_diag_req` */
export const NETLINK_DIAG_REQ = defineLayout('netlink_diag_req', 20, {
  sdiag_family: [0, 'u8'],
  sdiag_protocol: [1, 'u8'],
  pad: [2, 'u16'],
  ndiag_ino: [4, 'u32'],
  ndiag_show: [8, 'u32'],
  ndiag_cookie: [12, 'bytes', 8],
});

/** `struct netlink_diag_msg` */
export const NETLINK_DIAG_MSG = defineLayout('netlink_diag_msg', 28, {
  ndiag_family: [0, 'u8'],
  ndiag_type: [1, 'u8'],
  ndiag_protocol: [2, 'u8'],
  ndiag_state: [3, 'u8'],
  ndiag_portid: [4, 'u32'],
  ndiag_dst_portid: [8, 'u32'],
  ndiag_dst_group: [12, 'u32'],
  ndiag_ino: [16, 'u32'],
  ndiag_cookie: [20, 'bytes', 8],
});

/** `struct sockaddr_nl` */
export const SOCKADDR_NL = defineLayout('sockaddr_nl', 12, {
  nl_family: [0, 'u16'],
  nl_pad: [2, 'u16'],
  nl_pid: [4, 'u32'],
  nl_groups: [8, 'u32'],
});

/** The netlink_diag layouts, for the header probe test. */
export const NETLINK_DIAG_LAYOUTS = [NETLINK_DIAG_REQ, NETLINK_DIAG_MSG, SOCKADDR_NL] as const;

/** `NDIAG_PROTO_ALL`: every netlink protocol, in a request. */
export const NDIAG_PROTO_ALL = 0xff;

/** What a request asks to be shown (`NDIAG_SHOW_*`). */
export const NDIAG_SHOW = Object.freeze({ MEMINFO: 0x1, GROUPS: 0x2, FLAGS: 0x8 });

/** Attributes of a reply (`NETLINK_DIAG_*`). */
export const NETLINK_DIAG = Object.freeze({ MEMINFO: 0, GROUPS: 1, RX_RING: 2, TX_RING: 3, FLAGS: 4 });

/** Bits of `NETLINK_DIAG_FLAGS` (`NDIAG_FLAG_*`): a dump in progress, and the socket's options. */
export const NDIAG_FLAG = Object.freeze({ CB_RUNNING: 0x1, PKTINFO: 0x2, BROADCAST_ERROR: 0x4, NO_ENOBUFS: 0x8, LISTEN_ALL_NSID: 0x10, CAP_ACK: 0x20 });

/** `SOL_NETLINK` options (`NETLINK_*`). */
export const NETLINK_OPT = Object.freeze({ ADD_MEMBERSHIP: 1, DROP_MEMBERSHIP: 2, PKTINFO: 3, BROADCAST_ERROR: 4, NO_ENOBUFS: 5, LISTEN_ALL_NSID: 8, LIST_MEMBERSHIPS: 9, CAP_ACK: 10, EXT_ACK: 11, GET_STRICT_CHK: 12 });

/** A netlink socket's state (`NETLINK_UNCONNECTED`, `NETLINK_CONNECTED`). */
export const NETLINK_STATE = Object.freeze({ UNCONNECTED: 0, CONNECTED: 1 });

/** Every constant of this module under its C name, for the header probe test. */
export function netlinkDiagConstantEntries(): Array<[string, number]> {
  return [
    ['NDIAG_PROTO_ALL', NDIAG_PROTO_ALL],
    ...Object.entries(NDIAG_SHOW).map(([k, v]): [string, number] => [`NDIAG_SHOW_${k}`, v]),
    ...Object.entries(NETLINK_DIAG).map(([k, v]): [string, number] => [`NETLINK_DIAG_${k}`, v]),
    ...Object.entries(NDIAG_FLAG).map(([k, v]): [string, number] => [`NDIAG_FLAG_${k}`, v]),
    ...Object.entries(NETLINK_OPT).map(([k, v]): [string, number] => [`NETLINK_${k}`, v]),
    ...Object.entries(NETLINK_STATE).map(([k, v]): [string, number] => [`NETLINK_${k}`, v]),
  ];
}

/** A netlink socket as netlink_diag shows it. */
export interface NetlinkSocketDiag {
  ino: number;
  /** `SOCK_RAW` or `SOCK_DGRAM` (they behave the same). */
  type: number;
  /** The netlink protocol (`NETLINK_ROUTE`, `NETLINK_GENERIC`, ...). */
  protocol: number;
  /** `NETLINK_UNCONNECTED` or `NETLINK_CONNECTED`. */
  state: number;
  /** Its port id (0: not bound, only listening to groups). */
  portid: number;
  /** Where it sends by default once connected: a port id and a group number (1-based, 0: none). */
  dstPortid: number;
  dstGroup: number;
  /** The groups it listens to, as a bitmap in 32-bit words (bit n of word w is group 32w + n + 1). */
  groups: number[];
  /** `NDIAG_FLAG_*` bits. */
  flags: number;
}

/**
 * Every netlink socket of this network namespace that is bound, by inode (`SOCK_DIAG_BY_FAMILY`
 * dump for `AF_NETLINK`, every protocol, with `NDIAG_SHOW_GROUPS | NDIAG_SHOW_FLAGS`).
 */
export function netlinkSockets(): Map<number, NetlinkSocketDiag> {
  const req = Buffer.alloc(NETLINK_DIAG_REQ.size);
  setField(req, NETLINK_DIAG_REQ, 'sdiag_family', AF.NETLINK);
  setField(req, NETLINK_DIAG_REQ, 'sdiag_protocol', NDIAG_PROTO_ALL);
  setField(req, NETLINK_DIAG_REQ, 'ndiag_show', NDIAG_SHOW.GROUPS | NDIAG_SHOW.FLAGS);
  const replies = netlinkRequest(NETLINK.SOCK_DIAG, { type: SOCK_DIAG_BY_FAMILY, flags: NLM_F.DUMP, payload: req, what: 'list the netlink sockets (sock_diag)' });
  const out = new Map<number, NetlinkSocketDiag>();
  for (const m of replies) {
    const sk = parseNetlink(m);
    out.set(sk.ino, sk);
  }
  return out;
}

function parseNetlink(m: NetlinkMessage): NetlinkSocketDiag {
  const p = m.payload;
  const attrs = parseAttributes(p.subarray(NETLINK_DIAG_MSG.size));
  const groups: number[] = [];
  const bitmap = attrs.get(NETLINK_DIAG.GROUPS);
  if (bitmap !== undefined) for (let at = 0; at + 4 <= bitmap.length; at += 4) groups.push(bitmap.readUInt32LE(at));
  return {
    ino: getNum(p, NETLINK_DIAG_MSG, 'ndiag_ino'),
    type: getNum(p, NETLINK_DIAG_MSG, 'ndiag_type'),
    protocol: getNum(p, NETLINK_DIAG_MSG, 'ndiag_protocol'),
    state: getNum(p, NETLINK_DIAG_MSG, 'ndiag_state'),
    portid: getNum(p, NETLINK_DIAG_MSG, 'ndiag_portid'),
    dstPortid: getNum(p, NETLINK_DIAG_MSG, 'ndiag_dst_portid'),
    dstGroup: getNum(p, NETLINK_DIAG_MSG, 'ndiag_dst_group'),
    groups,
    flags: attrs.get(NETLINK_DIAG.FLAGS)?.readUInt32LE(0) ?? 0,
  };
}

/** `struct sockaddr_nl` for bind/connect: a port id and a 32-group mask. */
export function netlinkAddress(portid: number, groups: number): { family: 'raw'; af: number; bytes: Buffer } {
  const bytes = Buffer.alloc(SOCKADDR_NL.size);
  setField(bytes, SOCKADDR_NL, 'nl_family', AF.NETLINK);
  setField(bytes, SOCKADDR_NL, 'nl_pid', portid >>> 0);
  setField(bytes, SOCKADDR_NL, 'nl_groups', groups >>> 0);
  return { family: 'raw', af: AF.NETLINK, bytes };
}

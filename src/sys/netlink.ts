/**
 * Raw netlink: one request to the kernel over an `AF_NETLINK` socket and every reply message it
 * gives back (a dump's several parts included), plus the attributes (`struct nlattr`, TLVs aligned
 * to 4 bytes) that follow a message's fixed header. The families built on it (sock_diag, ...) live
 * above `sys`; this module knows only the framing: `struct nlmsghdr`, `NLMSG_DONE`,
 * `NLMSG_ERROR` with its `struct nlmsgerr`.
 */

import { AF, MSG, SOCK } from './constants_io.js';
import { type SysContext } from './error.js';
import { close } from './io.js';
import { fail } from './libc.js';
import { defineLayout, getNum, setField } from './layout.js';
import { recvmsg, sendmsg, socket } from './socket.js';

/** `struct nlmsghdr` (16 bytes): every netlink message starts with one. */
export const NLMSGHDR = defineLayout('nlmsghdr', 16, {
  nlmsg_len: [0, 'u32'],
  nlmsg_type: [4, 'u16'],
  nlmsg_flags: [6, 'u16'],
  nlmsg_seq: [8, 'u32'],
  nlmsg_pid: [12, 'u32'],
});

/** `struct nlmsgerr`: the payload of an `NLMSG_ERROR` message (error 0 is an acknowledgement). */
export const NLMSGERR = defineLayout('nlmsgerr', 20, {
  error: [0, 'i32'],
  msg: [4, 'bytes', 16],
});

/** `struct nlattr` (`struct rtattr` has the same shape): the header of one attribute. */
export const NLATTR = defineLayout('nlattr', 4, {
  nla_len: [0, 'u16'],
  nla_type: [2, 'u16'],
});

/** The netlink layouts, for the header probe test. */
export const NETLINK_LAYOUTS = [NLMSGHDR, NLMSGERR, NLATTR] as const;

/** Netlink protocols (`NETLINK_*`, the third argument of `socket(AF_NETLINK, ...)`). */
export const NETLINK = Object.freeze({ ROUTE: 0, SOCK_DIAG: 4 });

/** `nlmsg_flags` bits (`NLM_F_*`). */
export const NLM_F = Object.freeze({ REQUEST: 0x1, MULTI: 0x2, ACK: 0x4, ROOT: 0x100, MATCH: 0x200, DUMP: 0x300 });

/** Message types every netlink family shares (`NLMSG_*`). */
export const NLMSG = Object.freeze({ NOOP: 0x1, ERROR: 0x2, DONE: 0x3 });

/** `NLA_TYPE_MASK`: an attribute's type without the nested and byte-order flags. */
export const NLA_TYPE_MASK = 0x3fff;

/** Every constant of this module under its C name, for the header probe test. */
export function netlinkConstantEntries(): Array<[string, number]> {
  return [
    ...Object.entries(NETLINK).map(([k, v]): [string, number] => [`NETLINK_${k}`, v]),
    ...Object.entries(NLM_F).map(([k, v]): [string, number] => [`NLM_F_${k}`, v]),
    ...Object.entries(NLMSG).map(([k, v]): [string, number] => [`NLMSG_${k}`, v]),
    ['NLA_TYPE_MASK', NLA_TYPE_MASK],
  ];
}

/** One message of a reply: its header fields and the bytes after the header. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

/** A request: its message type, flags (`NLM_F.REQUEST` is added) and payload. */
export interface NetlinkRequest extends SysContext {
  type: number;
  flags?: number;
  payload: Uint8Array;
}

/** Room for one datagram of a reply; the kernel makes dump parts of at most 32 KiB. */
const RECV_SIZE = 64 * 1024;

const align4 = (n: number): number => (n + 3) & ~3;

let nextSeq = 1;

/**
 * `socket(AF_NETLINK, SOCK_RAW, protocol)`, `sendmsg` of one request to the kernel, then
 * `recvmsg` until the reply is complete — returns its messages (for a dump: every part before
 * `NLMSG_DONE`). An `NLMSG_ERROR` with a nonzero error throws a SysError named after the
 * request (`what`), with that errno.
 */
export function netlinkRequest(protocol: number, req: NetlinkRequest): NetlinkMessage[] {
  const seq = nextSeq++;
  const flags = NLM_F.REQUEST | (req.flags ?? 0);
  const msg = Buffer.alloc(NLMSGHDR.size + req.payload.length);
  setField(msg, NLMSGHDR, 'nlmsg_len', msg.length);
  setField(msg, NLMSGHDR, 'nlmsg_type', req.type);
  setField(msg, NLMSGHDR, 'nlmsg_flags', flags);
  setField(msg, NLMSGHDR, 'nlmsg_seq', seq);
  msg.set(req.payload, NLMSGHDR.size);
  const what = req.what ?? `netlink request ${req.type}`;

  const fd = socket(AF.NETLINK, SOCK.RAW | SOCK.CLOEXEC, { protocol, what });
  try {
    // No address: an unconnected netlink socket sends to the kernel (port 0).
    sendmsg(fd, { data: msg }, { what });
    const out: NetlinkMessage[] = [];
    const buf = Buffer.alloc(RECV_SIZE);
    const dump = (flags & NLM_F.DUMP) === NLM_F.DUMP;
    for (;;) {
      const got = recvmsg(fd, buf, { what });
      if ((got.flags & MSG.TRUNC) !== 0) throw new RangeError(`${what}: a netlink reply did not fit in ${RECV_SIZE} bytes`);
      // A copy: the messages returned are views, and the buffer is read into again.
      for (const m of splitMessages(Buffer.from(buf.subarray(0, got.bytes)))) {
        if (m.seq !== seq) continue; // not ours (a late reply to an earlier request cannot happen on a fresh socket)
        if (m.type === NLMSG.DONE) return out;
        if (m.type === NLMSG.ERROR) {
          const errno = -getNum(m.payload, NLMSGERR, 'error');
          if (errno === 0) return out; // an acknowledgement
          throw fail(errno, 'netlink', { what }, { call: `netlink(protocol ${protocol}, type ${req.type})` });
        }
        if (m.type === NLMSG.NOOP) continue;
        out.push(m);
        if (!dump && (m.flags & NLM_F.MULTI) === 0) return out;
      }
    }
  } finally {
    close(fd);
  }
}

/** The messages packed in one datagram (each aligned to 4 bytes). */
export function splitMessages(data: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  for (let at = 0; at + NLMSGHDR.size <= data.length; ) {
    const len = getNum(data, NLMSGHDR, 'nlmsg_len', at);
    if (len < NLMSGHDR.size || at + len > data.length) throw new RangeError(`Malformed netlink message: length ${len} at offset ${at} of ${data.length}`);
    out.push({
      type: getNum(data, NLMSGHDR, 'nlmsg_type', at),
      flags: getNum(data, NLMSGHDR, 'nlmsg_flags', at),
      seq: getNum(data, NLMSGHDR, 'nlmsg_seq', at),
      payload: data.subarray(at + NLMSGHDR.size, at + len),
    });
    at += align4(len);
  }
  return out;
}

/**
 * The attributes of `data` (what follows a message's fixed header), by type (flags masked off);
 * each value is a view of the attribute's payload. A type seen twice keeps its first value.
 */
export function parseAttributes(data: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let at = 0; at + NLATTR.size <= data.length; ) {
    const len = getNum(data, NLATTR, 'nla_len', at);
    if (len < NLATTR.size || at + len > data.length) throw new RangeError(`Malformed netlink attribute: length ${len} at offset ${at} of ${data.length}`);
    const type = getNum(data, NLATTR, 'nla_type', at) & NLA_TYPE_MASK;
    if (!out.has(type)) out.set(type, data.subarray(at + NLATTR.size, at + len));
    at += align4(len);
  }
  return out;
}

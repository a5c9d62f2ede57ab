/**
 * Netlink sockets (files.img NETLINKSK, netlink_sk_entry as CRIU writes it): the protocol, the
 * port id a socket is bound to, the multicast groups it listens to and the port and group it is
 * connected to, from netlink_diag (one listing per dump); its options from the socket itself. A
 * socket never bound is in no netlink_diag table: it is recorded with its protocol alone, as CRIU
 * does.
 *
 * Refused (FD_UNSUPPORTED), as CRIU refuses them: a socket with messages waiting to be read (the
 * kernel cannot take them back, and CRIU does not dump them either), a socket whose dump reply
 * is still being produced (NDIAG_FLAG_CB_RUNNING), and groups without a port id. Groups past the
 * 32nd are written as more words of `groups` (CRIU stops at 32; restore joins them with
 * NETLINK_ADD_MEMBERSHIP). Like CRIU, the image keeps none of the SOL_NETLINK options
 * (NETLINK_PKTINFO, NETLINK_NO_ENOBUFS, NETLINK_EXT_ACK, ...) nor the socket type (SOCK_RAW and
 * SOCK_DGRAM act alike; restore makes SOCK_RAW).
 */
import type { NetlinkSkEntry } from '../../images/generated/types.js';
import { NDIAG_FLAG, NETLINK_STATE, netlinkSockets, type NetlinkSocketDiag } from '../../net/netlink_diag.js';
import { AF, MSG, SO, SOL, getsockoptInt, isSysError, recvmsg } from '../../sys/index.js';
import { FdDumpError, type FdDumpContext, type FdFacts } from './kind.js';
import { dumpSocketOpts } from './sk_opts.js';

/** netlink_diag listings, one per dump. */
const listings = new WeakMap<FdDumpContext, Map<number, NetlinkSocketDiag>>();

function listing(ctx: FdDumpContext): Map<number, NetlinkSocketDiag> {
  let sockets = listings.get(ctx);
  if (sockets === undefined) {
    sockets = netlinkSockets();
    listings.set(ctx, sockets);
  }
  return sockets;
}

/** Dumps the netlink socket of `f` (network namespace id `nsId`); returns its file id. */
export function dumpNetlinkSocket(f: FdFacts, ctx: FdDumpContext, nsId: number): number {
  const refuse = (what: string): never => {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `netlink socket ${f.link} ${what}`);
  };
  const ino = Number(f.stat.ino);
  const sk = listing(ctx).get(ino);
  if (sk !== undefined && (sk.flags & NDIAG_FLAG.CB_RUNNING) !== 0) refuse(`(protocol ${sk.protocol}) is in the middle of a dump the kernel is still producing for it`);
  const queued = queuedBytes(f.local);
  if (queued > 0) refuse(`has a ${queued}-byte message (and maybe more) waiting to be read: queued netlink messages are not dumped (CRIU refuses them too)`);

  const entry: NetlinkSkEntry = {
    id: 0,
    ino,
    protocol: 0,
    state: NETLINK_STATE.UNCONNECTED,
    flags: f.flags,
    portid: 0,
    dst_portid: 0,
    dst_group: 0,
    fown: f.fown,
    opts: dumpSocketOpts(f.local, AF.NETLINK),
  };
  if (sk !== undefined) {
    const groups = trimGroups(sk.groups);
    if (groups.length > 0 && sk.portid === 0) refuse(`(protocol ${sk.protocol}) listens to multicast groups without being bound to a port id`);
    entry.protocol = sk.protocol;
    entry.state = sk.state;
    entry.portid = sk.portid;
    if (groups.length > 0) entry.groups = groups;
    entry.dst_portid = sk.dstPortid;
    entry.dst_group = sk.dstGroup;
    entry.ns_id = nsId; // as in CRIU: only sockets netlink_diag lists carry it
  } else {
    entry.protocol = getsockoptInt(f.local, { level: SOL.SOCKET, name: SO.PROTOCOL });
  }
  return ctx.files.add('NETLINKSK', (id) => ({ nlsk: { ...entry, id } }));
}

/** The group bitmap without its trailing empty words (the kernel sizes it in longs). */
function trimGroups(words: number[]): number[] {
  let n = words.length;
  while (n > 0 && words[n - 1] === 0) n--;
  return words.slice(0, n);
}

/**
 * The length of the first message waiting to be read, 0 when none: `recvmsg(MSG_PEEK |
 * MSG_DONTWAIT | MSG_TRUNC)` into one byte, which leaves the message where it is.
 */
function queuedBytes(fd: number): number {
  try {
    return recvmsg(fd, Buffer.alloc(1), { flags: MSG.PEEK | MSG.DONTWAIT | MSG.TRUNC }).bytes;
  } catch (err) {
    if (isSysError(err, 'EAGAIN')) return 0;
    throw err;
  }
}

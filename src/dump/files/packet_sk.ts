/**
 * Packet sockets (files.img PACKETSK, packet_sock_entry as CRIU writes it): SOCK_RAW and
 * SOCK_DGRAM, their protocol, the interface they are bound to (by index, all the image keeps),
 * TPACKET version, reserve, aux data, original device, vnet header, loss, timestamp source, copy
 * threshold, multicast / promiscuous / all-multicast memberships and fanout group. packet_diag
 * tells all of that (one listing per dump); the socket options come from the socket itself.
 *
 * What the image has no room for is refused (FD_UNSUPPORTED), never dropped: rings
 * (PACKET_RX_RING/TX_RING: CRIU records their geometry and maps a new, empty ring at restore; we do
 * not dump them, and a mapped ring already stops the dump at the task's memory areas), the
 * obsolete SOCK_PACKET type, a socket whose interface was removed under it, fanout modes that
 * steer with a BPF program, and the options no field keeps (qdisc bypass, TX offset, ignore outgoing, a 12-byte vnet header). A membership taken
 * several times is written once per time, so that restoring it (CRIU's or ours) takes it as often.
 * As in CRIU, frames waiting in the receive queue are not kept.
 */
import type { PacketMclist, PacketSockEntry } from '../../images/generated/types.js';
import { PACKET_FANOUT, PACKET_MR, PACKET_OPT, PDI, SOCK_PACKET, packetSockets, type PacketSocketDiag } from '../../net/packet_diag.js';
import { AF, SOL, getsockoptInt, isSysError } from '../../sys/index.js';
import { FdDumpError, type FdDumpContext, type FdFacts } from './kind.js';
import { dumpSocketOpts } from './sk_opts.js';

/** `PACKET_VNET_HDR_SZ` (Linux 6.8+; newer than the headers of this Debian). */
const PACKET_VNET_HDR_SZ = 24;
/** The vnet header `PACKET_VNET_HDR` gives (`struct virtio_net_hdr`). */
const VNET_HDR_LEN = 10;

/** The interface index the kernel leaves on a socket whose interface went away (-1 as a u32). */
const UNBOUND_BY_UNREGISTER = 0xffffffff;

/** packet_diag listings, one per dump. */
const listings = new WeakMap<FdDumpContext, Map<number, PacketSocketDiag>>();

function listing(ctx: FdDumpContext): Map<number, PacketSocketDiag> {
  let sockets = listings.get(ctx);
  if (sockets === undefined) {
    sockets = packetSockets();
    listings.set(ctx, sockets);
  }
  return sockets;
}

/** Dumps the packet socket of `f` (network namespace id `nsId`); returns its file id. */
export function dumpPacketSocket(f: FdFacts, ctx: FdDumpContext, nsId: number): number {
  const refuse = (what: string): never => {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `packet socket ${f.link} ${what}`);
  };
  const sk = listing(ctx).get(Number(f.stat.ino));
  if (sk === undefined) throw new FdDumpError('FD_FAILED', f.pid, f.fd, `packet_diag does not list the packet socket ${f.link}`);
  if (sk.type === SOCK_PACKET) refuse('is of the obsolete type SOCK_PACKET, which is not dumped');
  if (sk.ifindex === UNBOUND_BY_UNREGISTER) refuse('was bound to a network interface that has been removed since: no interface can be named to bind it again');
  if (sk.rxRing !== undefined || sk.txRing !== undefined) {
    const which = [sk.rxRing && `PACKET_RX_RING (${sk.rxRing.frameNr} frames)`, sk.txRing && `PACKET_TX_RING (${sk.txRing.frameNr} frames)`].filter(Boolean).join(' and ');
    refuse(`has ${which}: packet rings are not dumped`);
  }
  checkUnkeptOptions(f.local, sk, refuse);

  const entry: PacketSockEntry = {
    id: 0,
    type: sk.type,
    protocol: networkOrder16(sk.protocol),
    flags: f.flags,
    ifindex: sk.ifindex,
    fown: f.fown,
    opts: dumpSocketOpts(f.local, AF.PACKET),
    version: sk.version,
    reserve: sk.reserve,
    aux_data: (sk.flags & PDI.AUXDATA) !== 0,
    orig_dev: (sk.flags & PDI.ORIGDEV) !== 0,
    vnet_hdr: (sk.flags & PDI.VNETHDR) !== 0,
    loss: (sk.flags & PDI.LOSS) !== 0,
    timestamp: sk.tstamp,
    copy_thresh: sk.copyThresh,
    ns_id: nsId,
  };
  const mclist = memberships(sk, refuse);
  if (mclist.length > 0) entry.mclist = mclist;
  if (sk.fanout !== undefined) entry.fanout = fanoutValue(f.local, sk.fanout, refuse);
  return ctx.files.add('PACKETSK', (id) => ({ psk: { ...entry, id } }));
}

/**
 * The memberships as the image lists them: one entry per time each was taken, oldest first (the
 * kernel lists the newest first), so that a restore takes them in the order they were taken.
 */
function memberships(sk: PacketSocketDiag, refuse: (what: string) => never): PacketMclist[] {
  const out: PacketMclist[] = [];
  for (const m of [...sk.memberships].reverse()) {
    let addr: Uint8Array;
    if (m.type === PACKET_MR.MULTICAST || m.type === PACKET_MR.UNICAST) addr = m.addr;
    else if (m.type === PACKET_MR.PROMISC || m.type === PACKET_MR.ALLMULTI) addr = new Uint8Array(0);
    else refuse(`has a membership of unknown type ${m.type} on interface ${m.ifindex}`);
    for (let i = 0; i < m.count; i++) out.push({ index: m.ifindex, type: m.type, addr: addr! });
  }
  return out;
}

/**
 * The `PACKET_FANOUT` argument that joins the same group again: its id, mode and flags as
 * getsockopt tells them (packet_diag drops the flags), without `UNIQUEID` (a restore names the id
 * itself). Modes that steer with a BPF program are refused: the program cannot be read back.
 */
function fanoutValue(fd: number, diag: number, refuse: (what: string) => never): number {
  const value = getsockoptInt(fd, { level: SOL.PACKET, name: PACKET_OPT.FANOUT }) >>> 0;
  const mode = (diag >>> 16) & 0xff;
  if (mode === PACKET_FANOUT.CBPF || mode === PACKET_FANOUT.EBPF) refuse(`is in fanout group ${diag & 0xffff} steered by a BPF program (mode ${mode}), which cannot be read back`);
  return (value & ~(PACKET_FANOUT.FLAG_UNIQUEID << 16)) >>> 0;
}

/** Refuses the options that packet_sock_entry has no field for, when they are not at their default. */
function checkUnkeptOptions(fd: number, sk: PacketSocketDiag, refuse: (what: string) => never): void {
  const get = (name: number): number | undefined => {
    try {
      return getsockoptInt(fd, { level: SOL.PACKET, name });
    } catch (err) {
      if (isSysError(err, 'ENOPROTOOPT') || isSysError(err, 'EINVAL')) return undefined; // an older kernel
      throw err;
    }
  };
  const unkept: Array<[number, string]> = [
    [PACKET_OPT.QDISC_BYPASS, 'PACKET_QDISC_BYPASS'],
    [PACKET_OPT.TX_HAS_OFF, 'PACKET_TX_HAS_OFF'],
    [PACKET_OPT.IGNORE_OUTGOING, 'PACKET_IGNORE_OUTGOING'],
  ];
  for (const [name, label] of unkept) {
    if ((get(name) ?? 0) !== 0) refuse(`has ${label} set, which the image has no field for`);
  }
  if ((sk.flags & PDI.VNETHDR) !== 0) {
    const size = get(PACKET_VNET_HDR_SZ);
    if (size !== undefined && size !== VNET_HDR_LEN) refuse(`has a ${size}-byte vnet header (PACKET_VNET_HDR_SZ); the image keeps only PACKET_VNET_HDR (${VNET_HDR_LEN} bytes)`);
  }
}

/** `htons()`: the image keeps the protocol as socket() takes it. */
function networkOrder16(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

/**
 * Packet sockets (files.img PACKETSK), made again in the driver in CRIU's order: the socket with
 * its type and protocol, bound to its interface (by index, as the image keeps it), then TPACKET
 * version, reserve, timestamp source, copy threshold, aux data, original device, vnet header,
 * loss, the memberships (each entry once: a membership taken twice is listed twice), the fanout
 * group, the file flags and the SOL_SOCKET options.
 *
 * An interface the image names (bound or in a membership) that this network namespace does not
 * have is `NETDEV_MISSING`, naming the task, the fd and the interface index. Rings and the
 * obsolete SOCK_PACKET type are refused (`RESTORE_UNSUPPORTED`): a ring needs its mapping made in
 * the task, which restore does not do yet.
 */
import type { PacketMclist, PacketSockEntry } from '../../images/generated/types.js';
import { PACKET_MR, PACKET_OPT, SOCK_PACKET, packetAddress, packetMreq } from '../../net/packet_diag.js';
import { AF, F, O, SOCK, SOL, bind, fcntl, isSysError, setsockopt, socket } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import { holder } from './file_holder.js';
import type { FileKindOpener } from './kind.js';
import { restoreSocketOpts } from './sk_opts.js';

export const PACKETSK_OPENER: FileKindOpener = {
  kind: 'PACKETSK',
  open(entry, ctx) {
    const psk = entry.psk!;
    const name = `packet socket (file ${psk.id})`;
    const where = holder(ctx.plan, psk.id);
    if (psk.type === SOCK_PACKET) throw new RestoreError('RESTORE_UNSUPPORTED', `${where.text}: ${name} is of the obsolete type SOCK_PACKET, which is not restored`, { pid: where.pid, image: 'files.img' });
    if (psk.rx_ring !== undefined || psk.tx_ring !== undefined) {
      throw new RestoreError('RESTORE_UNSUPPORTED', `${where.text}: ${name} has a ${psk.rx_ring ? 'PACKET_RX_RING' : 'PACKET_TX_RING'}: packet rings are not restored yet`, { pid: where.pid, image: 'files.img' });
    }
    const fd = socket(AF.PACKET, psk.type | SOCK.CLOEXEC, { protocol: psk.protocol, what: `create ${name}` });
    ctx.opened.push(fd);
    const missing = (ifindex: number, err: unknown): RestoreError =>
      new RestoreError('NETDEV_MISSING', `${where.text}: ${name} needs network interface ${ifindex}, which this network namespace does not have`, { pid: where.pid, image: 'files.img', cause: err });
    try {
      bind(fd, packetAddress(psk.ifindex), { what: `bind ${name} to interface ${psk.ifindex}` });
    } catch (err) {
      if (isSysError(err, 'ENODEV')) throw missing(psk.ifindex, err);
      throw err;
    }
    setPacketOptions(fd, psk, name);
    for (const m of psk.mclist ?? []) {
      try {
        setsockopt(fd, { level: SOL.PACKET, name: PACKET_OPT.ADD_MEMBERSHIP, value: packetMreq({ ifindex: m.index, type: m.type, addr: m.addr }) }, { what: `add ${describeMembership(m)} to ${name}` });
      } catch (err) {
        if (isSysError(err, 'ENODEV')) throw missing(m.index, err);
        throw err;
      }
    }
    if (psk.fanout !== undefined) setsockopt(fd, { level: SOL.PACKET, name: PACKET_OPT.FANOUT, value: psk.fanout | 0 }, { what: `put ${name} in fanout group 0x${(psk.fanout & 0xffff).toString(16)}` });
    fcntl(fd, F.SETFL, { arg: psk.flags & ~O.ACCMODE & ~O.CLOEXEC, what: `set the flags of ${name}` });
    restoreSocketOpts(fd, psk.opts, name);
    return fd;
  },
};

/** The `SOL_PACKET` options, as CRIU sets them: the values always, the booleans when on. */
function setPacketOptions(fd: number, psk: PacketSockEntry, name: string): void {
  const set = (opt: number, value: number, label: string) => setsockopt(fd, { level: SOL.PACKET, name: opt, value }, { what: `set ${label} of ${name}` });
  set(PACKET_OPT.VERSION, psk.version, 'PACKET_VERSION');
  set(PACKET_OPT.RESERVE, psk.reserve, 'PACKET_RESERVE');
  set(PACKET_OPT.TIMESTAMP, psk.timestamp, 'PACKET_TIMESTAMP');
  set(PACKET_OPT.COPY_THRESH, psk.copy_thresh, 'PACKET_COPY_THRESH');
  if (psk.aux_data) set(PACKET_OPT.AUXDATA, 1, 'PACKET_AUXDATA');
  if (psk.orig_dev) set(PACKET_OPT.ORIGDEV, 1, 'PACKET_ORIGDEV');
  if (psk.vnet_hdr) set(PACKET_OPT.VNET_HDR, 1, 'PACKET_VNET_HDR');
  if (psk.loss) set(PACKET_OPT.LOSS, 1, 'PACKET_LOSS');
}

function describeMembership(m: PacketMclist): string {
  const kind = m.type === PACKET_MR.MULTICAST ? 'multicast' : m.type === PACKET_MR.UNICAST ? 'unicast' : m.type === PACKET_MR.PROMISC ? 'promiscuous' : m.type === PACKET_MR.ALLMULTI ? 'all-multicast' : `type-${m.type}`;
  const addr = m.addr.length > 0 ? ` ${Buffer.from(m.addr).toString('hex').replace(/(..)(?!$)/g, '$1:')}` : '';
  return `the ${kind}${addr} membership of interface ${m.index}`;
}

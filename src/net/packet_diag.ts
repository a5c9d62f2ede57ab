/**
 * What the kernel tells of AF_PACKET sockets through sock_diag (`packet_diag`), and the
 * `SOL_PACKET` options that set the same state again. getsockopt tells the version, reserve,
 * aux data, loss and vnet header too, but not the bound interface, the multicast memberships (with
 * their counts) or the ring geometry: packet_diag tells all of it in one listing, as CRIU reads it.
 * Only the sockets of the caller's network namespace are listed.
 */

import { AF } from '../sys/index.js';
import { defineLayout, fieldBytes, getNum, setField } from '../sys/layout.js';
import { NETLINK, NLM_F, netlinkRequest, parseAttributes, type NetlinkMessage } from '../sys/netlink.js';
import { SOCK_DIAG_BY_FAMILY } from './sock_diag.js';

/** `struct packet_diag_req` */
export const PACKET_DIAG_REQ = defineLayout('packet_diag_req', 20, {
  sdiag_family: [0, 'u8'],
  sdiag_protocol: [1, 'u8'],
  pad: [2, 'u16'],
  pdiag_ino: [4, 'u32'],
  pdiag_show: [8, 'u32'],
  pdiag_cookie: [12, 'bytes', 8],
});

/** `struct packet_diag_msg`: `pdiag_num` is the protocol in host byte order. */
export const PACKET_DIAG_MSG = defineLayout('packet_diag_msg', 16, {
  pdiag_family: [0, 'u8'],
  pdiag_type: [1, 'u8'],
  pdiag_num: [2, 'u16'],
  pdiag_ino: [4, 'u32'],
  pdiag_cookie: [8, 'bytes', 8],
});

/** `struct packet_diag_info` (attribute `PACKET_DIAG_INFO`). */
export const PACKET_DIAG_INFO = defineLayout('packet_diag_info', 24, {
  pdi_index: [0, 'u32'],
  pdi_version: [4, 'u32'],
  pdi_reserve: [8, 'u32'],
  pdi_copy_thresh: [12, 'u32'],
  pdi_tstamp: [16, 'u32'],
  pdi_flags: [20, 'u32'],
});

/** `struct packet_diag_mclist`: one membership (`MAX_ADDR_LEN` is 32). */
export const PACKET_DIAG_MCLIST = defineLayout('packet_diag_mclist', 44, {
  pdmc_index: [0, 'u32'],
  pdmc_count: [4, 'u32'],
  pdmc_type: [8, 'u16'],
  pdmc_alen: [10, 'u16'],
  pdmc_addr: [12, 'bytes', 32],
});

/** `struct packet_diag_ring` (attributes `PACKET_DIAG_RX_RING`, `PACKET_DIAG_TX_RING`). */
export const PACKET_DIAG_RING = defineLayout('packet_diag_ring', 28, {
  pdr_block_size: [0, 'u32'],
  pdr_block_nr: [4, 'u32'],
  pdr_frame_size: [8, 'u32'],
  pdr_frame_nr: [12, 'u32'],
  pdr_retire_tmo: [16, 'u32'],
  pdr_sizeof_priv: [20, 'u32'],
  pdr_features: [24, 'u32'],
});

/** `struct packet_mreq` (`PACKET_ADD_MEMBERSHIP`): its address room is 8 bytes. */
export const PACKET_MREQ = defineLayout('packet_mreq', 16, {
  mr_ifindex: [0, 'i32'],
  mr_type: [4, 'u16'],
  mr_alen: [6, 'u16'],
  mr_address: [8, 'bytes', 8],
});

/** `struct sockaddr_ll`: `sll_protocol` in network byte order. */
export const SOCKADDR_LL = defineLayout('sockaddr_ll', 20, {
  sll_family: [0, 'u16'],
  sll_protocol: [2, 'u16'],
  sll_ifindex: [4, 'i32'],
  sll_hatype: [8, 'u16'],
  sll_pkttype: [10, 'u8'],
  sll_halen: [11, 'u8'],
  sll_addr: [12, 'bytes', 8],
});

/** The packet_diag and packet option layouts, for the header probe test. */
export const PACKET_LAYOUTS = [PACKET_DIAG_REQ, PACKET_DIAG_MSG, PACKET_DIAG_INFO, PACKET_DIAG_MCLIST, PACKET_DIAG_RING, PACKET_MREQ, SOCKADDR_LL] as const;

/** What a request asks to be shown (`PACKET_SHOW_*`). */
export const PACKET_SHOW = Object.freeze({ INFO: 0x1, MCLIST: 0x2, RING_CFG: 0x4, FANOUT: 0x8, MEMINFO: 0x10, FILTER: 0x20 });

/** Attributes of a reply (`PACKET_DIAG_*`). */
export const PACKET_DIAG = Object.freeze({ INFO: 0, MCLIST: 1, RX_RING: 2, TX_RING: 3, FANOUT: 4, UID: 5, MEMINFO: 6, FILTER: 7 });

/** `pdi_flags` bits (`PDI_*`). */
export const PDI = Object.freeze({ RUNNING: 0x1, AUXDATA: 0x2, ORIGDEV: 0x4, VNETHDR: 0x8, LOSS: 0x10 });

/** `SOL_PACKET` options (`PACKET_*`). */
export const PACKET_OPT = Object.freeze({
  ADD_MEMBERSHIP: 1,
  DROP_MEMBERSHIP: 2,
  RX_RING: 5,
  COPY_THRESH: 7,
  AUXDATA: 8,
  ORIGDEV: 9,
  VERSION: 10,
  RESERVE: 12,
  TX_RING: 13,
  LOSS: 14,
  VNET_HDR: 15,
  TIMESTAMP: 17,
  FANOUT: 18,
  TX_HAS_OFF: 19,
  QDISC_BYPASS: 20,
  IGNORE_OUTGOING: 23,
});

/** Membership types (`PACKET_MR_*`). */
export const PACKET_MR = Object.freeze({ MULTICAST: 0, PROMISC: 1, ALLMULTI: 2, UNICAST: 3 });

/** Fanout modes (`PACKET_FANOUT_*`) and the flag bits or-ed into the mode. */
export const PACKET_FANOUT = Object.freeze({ HASH: 0, LB: 1, CPU: 2, ROLLOVER: 3, RND: 4, QM: 5, CBPF: 6, EBPF: 7, FLAG_ROLLOVER: 0x1000, FLAG_UNIQUEID: 0x2000, FLAG_DEFRAG: 0x8000 });

/** `SOCK_PACKET`, the obsolete packet socket type (not in SOCK). */
export const SOCK_PACKET = 10;

/** Every constant of this module under its C name, for the header probe test. */
export function packetConstantEntries(): Array<[string, number]> {
  return [
    ...Object.entries(PACKET_SHOW).map(([k, v]): [string, number] => [`PACKET_SHOW_${k}`, v]),
    ...Object.entries(PACKET_DIAG).map(([k, v]): [string, number] => [`PACKET_DIAG_${k}`, v]),
    ...Object.entries(PDI).map(([k, v]): [string, number] => [`PDI_${k}`, v]),
    ...Object.entries(PACKET_OPT).map(([k, v]): [string, number] => [`PACKET_${k}`, v]),
    ...Object.entries(PACKET_MR).map(([k, v]): [string, number] => [`PACKET_MR_${k}`, v]),
    ...Object.entries(PACKET_FANOUT).map(([k, v]): [string, number] => [`PACKET_FANOUT_${k}`, v]),
    ['SOCK_PACKET', SOCK_PACKET],
  ];
}

/** A ring's geometry, as packet_diag tells it. */
export interface PacketRingDiag {
  blockSize: number;
  blockNr: number;
  frameSize: number;
  frameNr: number;
  retireTmo: number;
  sizeofPriv: number;
  features: number;
}

/** One multicast, promiscuous or all-multicast membership, taken `count` times. */
export interface PacketMembershipDiag {
  ifindex: number;
  count: number;
  /** A `PACKET_MR_*` type. */
  type: number;
  /** The hardware address (MULTICAST and UNICAST only; empty otherwise). */
  addr: Buffer;
}

/** A packet socket as packet_diag shows it. */
export interface PacketSocketDiag {
  ino: number;
  /** `SOCK_RAW`, `SOCK_DGRAM` or `SOCK_PACKET`. */
  type: number;
  /** The protocol (an `ETH_P_*`) in host byte order; 0 when none. */
  protocol: number;
  /** The bound interface (0: every interface). */
  ifindex: number;
  /** `TPACKET_V1`..`V3` (0, 1, 2). */
  version: number;
  reserve: number;
  copyThresh: number;
  /** The `SOF_TIMESTAMPING_*` flags of `PACKET_TIMESTAMP`. */
  tstamp: number;
  /** `PDI_*` bits. */
  flags: number;
  memberships: PacketMembershipDiag[];
  /** `id | mode << 16` of the fanout group it is in (no flags); absent when in none. */
  fanout?: number;
  rxRing?: PacketRingDiag;
  txRing?: PacketRingDiag;
}

/** What the dump asks of every packet socket (CRIU asks the same). */
const PACKET_ASK = PACKET_SHOW.INFO | PACKET_SHOW.MCLIST | PACKET_SHOW.FANOUT | PACKET_SHOW.RING_CFG;

/**
 * Every packet socket of this network namespace, by inode (`SOCK_DIAG_BY_FAMILY` dump for
 * `AF_PACKET` with `PACKET_SHOW_INFO | MCLIST | FANOUT | RING_CFG`); a kernel without packet_diag
 * answers ENOENT.
 */
export function packetSockets(): Map<number, PacketSocketDiag> {
  const req = Buffer.alloc(PACKET_DIAG_REQ.size);
  setField(req, PACKET_DIAG_REQ, 'sdiag_family', AF.PACKET);
  setField(req, PACKET_DIAG_REQ, 'pdiag_show', PACKET_ASK);
  const replies = netlinkRequest(NETLINK.SOCK_DIAG, { type: SOCK_DIAG_BY_FAMILY, flags: NLM_F.DUMP, payload: req, what: 'list the packet sockets (sock_diag)' });
  const out = new Map<number, PacketSocketDiag>();
  for (const m of replies) {
    const sk = parsePacket(m);
    out.set(sk.ino, sk);
  }
  return out;
}

function parsePacket(m: NetlinkMessage): PacketSocketDiag {
  const p = m.payload;
  const attrs = parseAttributes(p.subarray(PACKET_DIAG_MSG.size));
  const ino = getNum(p, PACKET_DIAG_MSG, 'pdiag_ino');
  const info = attrs.get(PACKET_DIAG.INFO);
  if (info === undefined || info.length < PACKET_DIAG_INFO.size) throw new RangeError(`packet_diag: socket ${ino} came without its PACKET_DIAG_INFO`);
  const sk: PacketSocketDiag = {
    ino,
    type: getNum(p, PACKET_DIAG_MSG, 'pdiag_type'),
    protocol: getNum(p, PACKET_DIAG_MSG, 'pdiag_num'),
    ifindex: getNum(info, PACKET_DIAG_INFO, 'pdi_index'),
    version: getNum(info, PACKET_DIAG_INFO, 'pdi_version'),
    reserve: getNum(info, PACKET_DIAG_INFO, 'pdi_reserve'),
    copyThresh: getNum(info, PACKET_DIAG_INFO, 'pdi_copy_thresh'),
    tstamp: getNum(info, PACKET_DIAG_INFO, 'pdi_tstamp'),
    flags: getNum(info, PACKET_DIAG_INFO, 'pdi_flags'),
    memberships: [],
  };
  const mclist = attrs.get(PACKET_DIAG.MCLIST) ?? Buffer.alloc(0);
  for (let at = 0; at + PACKET_DIAG_MCLIST.size <= mclist.length; at += PACKET_DIAG_MCLIST.size) {
    const alen = getNum(mclist, PACKET_DIAG_MCLIST, 'pdmc_alen', at);
    const addr = fieldBytes(mclist.subarray(at), PACKET_DIAG_MCLIST, 'pdmc_addr');
    sk.memberships.push({
      ifindex: getNum(mclist, PACKET_DIAG_MCLIST, 'pdmc_index', at),
      count: getNum(mclist, PACKET_DIAG_MCLIST, 'pdmc_count', at),
      type: getNum(mclist, PACKET_DIAG_MCLIST, 'pdmc_type', at),
      addr: Buffer.from(addr.subarray(0, Math.min(alen, addr.length))),
    });
  }
  const fanout = attrs.get(PACKET_DIAG.FANOUT);
  if (fanout !== undefined) sk.fanout = fanout.readUInt32LE(0);
  const rx = attrs.get(PACKET_DIAG.RX_RING);
  if (rx !== undefined) sk.rxRing = parseRing(rx);
  const tx = attrs.get(PACKET_DIAG.TX_RING);
  if (tx !== undefined) sk.txRing = parseRing(tx);
  return sk;
}

function parseRing(b: Buffer): PacketRingDiag {
  return {
    blockSize: getNum(b, PACKET_DIAG_RING, 'pdr_block_size'),
    blockNr: getNum(b, PACKET_DIAG_RING, 'pdr_block_nr'),
    frameSize: getNum(b, PACKET_DIAG_RING, 'pdr_frame_size'),
    frameNr: getNum(b, PACKET_DIAG_RING, 'pdr_frame_nr'),
    retireTmo: getNum(b, PACKET_DIAG_RING, 'pdr_retire_tmo'),
    sizeofPriv: getNum(b, PACKET_DIAG_RING, 'pdr_sizeof_priv'),
    features: getNum(b, PACKET_DIAG_RING, 'pdr_features'),
  };
}

/**
 * `struct sockaddr_ll` for bind(): the interface alone. A protocol of 0 keeps the one the socket
 * was made with.
 */
export function packetAddress(ifindex: number): { family: 'raw'; af: number; bytes: Buffer } {
  const bytes = Buffer.alloc(SOCKADDR_LL.size);
  setField(bytes, SOCKADDR_LL, 'sll_family', AF.PACKET);
  setField(bytes, SOCKADDR_LL, 'sll_ifindex', ifindex);
  return { family: 'raw', af: AF.PACKET, bytes };
}

/**
 * `struct packet_mreq` for `PACKET_ADD_MEMBERSHIP`, grown past its 8 address bytes when the address
 * is longer (the kernel reads up to 32, its `packet_mreq_max`).
 */
export function packetMreq(m: { ifindex: number; type: number; addr: Uint8Array }): Buffer {
  const at = PACKET_MREQ.fields.mr_address.offset;
  const buf = Buffer.alloc(Math.max(PACKET_MREQ.size, at + m.addr.length));
  setField(buf, PACKET_MREQ, 'mr_ifindex', m.ifindex);
  setField(buf, PACKET_MREQ, 'mr_type', m.type);
  setField(buf, PACKET_MREQ, 'mr_alen', m.addr.length);
  buf.set(m.addr, at);
  return buf;
}

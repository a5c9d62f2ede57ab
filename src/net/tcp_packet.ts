/**
 * One bare TCP segment (20-byte header, no options, no payload) inside an IPv4 or IPv6 header,
 * with correct checksums: what a restore injects into a socket in repair mode to make it believe
 * its peer's FIN (or the ACK of its own FIN) has just arrived. The kernel drops a segment whose
 * checksum is wrong without a word, so the checksum is the part that must be exact.
 *
 * Layouts (RFC 791, RFC 8200, RFC 9293): all fields in network byte order; the TCP checksum covers
 * a pseudo-header (source, destination, protocol, TCP length) before the TCP header itself.
 */

/** TCP header flags (the low byte of the flags field). */
export const TCP_FLAG = Object.freeze({ FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 });

const IPPROTO_TCP = 6;
const TCP_HEADER = 20;
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;

/** What one injected segment says. Addresses are the 4 or 16 network-order bytes of each end. */
export interface TcpSegment {
  src: Uint8Array;
  srcPort: number;
  dst: Uint8Array;
  dstPort: number;
  /** Sequence and acknowledgement numbers (taken modulo 2^32). */
  seq: number;
  ack: number;
  /** `TCP_FLAG` bits. */
  flags: number;
  /** The window field as sent (already scaled down), at most 0xffff. */
  window: number;
  /** IPv4 TTL or IPv6 hop limit; 64 when absent. */
  ttl?: number;
}

/**
 * The Internet checksum (RFC 1071) of the concatenation of `parts`: the one's complement of the
 * one's complement sum of its 16-bit big-endian words (an odd tail padded with a zero byte).
 * Every part but the last must have an even length.
 */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i + 1 < part.length; i += 2) sum += (part[i]! << 8) | part[i + 1]!;
    if (part.length % 2 === 1) sum += part[part.length - 1]! << 8;
    sum = (sum & 0xffff) + (sum >>> 16); // fold as we go: no overflow however long the input
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The TCP header of `seg` with its checksum over the pseudo-header `pseudo` filled in. */
function tcpHeader(seg: TcpSegment, pseudo: Uint8Array): Buffer {
  if (seg.window < 0 || seg.window > 0xffff) throw new RangeError(`TCP window field ${seg.window} does not fit in 16 bits`);
  const h = Buffer.alloc(TCP_HEADER);
  h.writeUInt16BE(seg.srcPort, 0);
  h.writeUInt16BE(seg.dstPort, 2);
  h.writeUInt32BE(seg.seq >>> 0, 4);
  h.writeUInt32BE(seg.ack >>> 0, 8);
  h[12] = (TCP_HEADER / 4) << 4; // data offset in 32-bit words, no options
  h[13] = seg.flags & 0xff;
  h.writeUInt16BE(seg.window, 14);
  // checksum (16) is zero while it is computed; urgent pointer (18) stays zero
  h.writeUInt16BE(internetChecksum(pseudo, h), 16);
  return h;
}

/** An IPv4 packet (header with its own checksum, DF set) carrying the segment. */
function ipv4Packet(seg: TcpSegment): Buffer {
  const pseudo = Buffer.alloc(12);
  Buffer.from(seg.src).copy(pseudo, 0);
  Buffer.from(seg.dst).copy(pseudo, 4);
  pseudo[9] = IPPROTO_TCP;
  pseudo.writeUInt16BE(TCP_HEADER, 10);
  const ip = Buffer.alloc(IPV4_HEADER);
  ip[0] = 0x45; // version 4, header of 5 words
  ip.writeUInt16BE(IPV4_HEADER + TCP_HEADER, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = seg.ttl ?? 64;
  ip[9] = IPPROTO_TCP;
  Buffer.from(seg.src).copy(ip, 12);
  Buffer.from(seg.dst).copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);
  return Buffer.concat([ip, tcpHeader(seg, pseudo)]);
}

/** An IPv6 packet (no extension headers) carrying the segment. */
function ipv6Packet(seg: TcpSegment): Buffer {
  const pseudo = Buffer.alloc(40);
  Buffer.from(seg.src).copy(pseudo, 0);
  Buffer.from(seg.dst).copy(pseudo, 16);
  pseudo.writeUInt32BE(TCP_HEADER, 32);
  pseudo[39] = IPPROTO_TCP;
  const ip = Buffer.alloc(IPV6_HEADER);
  ip[0] = 0x60; // version 6, traffic class and flow label zero
  ip.writeUInt16BE(TCP_HEADER, 4);
  ip[6] = IPPROTO_TCP;
  ip[7] = seg.ttl ?? 64;
  Buffer.from(seg.src).copy(ip, 8);
  Buffer.from(seg.dst).copy(ip, 24);
  return Buffer.concat([ip, tcpHeader(seg, pseudo)]);
}

/**
 * The whole packet, IP header first, as a raw socket with the header included sends it: IPv4 when
 * both addresses have 4 bytes, IPv6 when both have 16.
 */
export function buildTcpPacket(seg: TcpSegment): Buffer {
  if (seg.src.length === 4 && seg.dst.length === 4) return ipv4Packet(seg);
  if (seg.src.length === 16 && seg.dst.length === 16) return ipv6Packet(seg);
  throw new RangeError(`TCP packet addresses must be both IPv4 or both IPv6 (got ${seg.src.length} and ${seg.dst.length} bytes)`);
}

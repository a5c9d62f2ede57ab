/**
 * Socket addresses: `struct sockaddr_un`, `sockaddr_in` and `sockaddr_in6` to and from plain objects,
 * with the IPv4/IPv6 text forms parsed and printed here.
 */

import { isIPv4, isIPv6 } from 'node:net';
import { AF } from './constants_io.js';
import { allocStruct, fieldBytes, getNum, setField } from './layout.js';
import { SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_STORAGE, SOCKADDR_UN } from './structs.js';

/** A Unix socket address: a filesystem path, an abstract name, or unnamed (empty path). */
export interface UnixSockAddr {
  family: 'unix';
  /** The path, or the abstract name without its leading NUL. */
  path: string | Uint8Array;
  /** True for the abstract namespace. */
  abstract?: boolean;
}

/** An IPv4 address and port. */
export interface InetSockAddr {
  family: 'inet';
  address: string;
  port: number;
}

/** An IPv6 address and port. */
export interface Inet6SockAddr {
  family: 'inet6';
  address: string;
  port: number;
  flowinfo?: number;
  scopeId?: number;
}

/** An address of another family, kept as raw bytes. */
export interface RawSockAddr {
  family: 'raw';
  /** `sa_family` */
  af: number;
  bytes: Buffer;
}

/** Any socket address. */
export type SockAddr = UnixSockAddr | InetSockAddr | Inet6SockAddr | RawSockAddr;

/** Encodes an address; returns the struct bytes (their length is the `addrlen` to pass). */
export function encodeSockAddr(addr: SockAddr): Buffer {
  switch (addr.family) {
    case 'unix': {
      const name = typeof addr.path === 'string' ? Buffer.from(addr.path, 'utf8') : Buffer.from(addr.path);
      const pathOffset = SOCKADDR_UN.fields.sun_path.offset;
      const room = SOCKADDR_UN.fields.sun_path.size;
      // A filesystem path carries its NUL; an abstract name starts with one and has none at the end.
      const used = addr.abstract ? 1 + name.length : name.length === 0 ? 0 : name.length + 1;
      if (used > room) throw new RangeError(`Unix socket path is too long (${name.length} bytes, at most ${room - 1})`);
      const buf = allocStruct(SOCKADDR_UN);
      setField(buf, SOCKADDR_UN, 'sun_family', AF.UNIX);
      name.copy(buf, pathOffset + (addr.abstract ? 1 : 0));
      return buf.subarray(0, pathOffset + used);
    }
    case 'inet': {
      const buf = allocStruct(SOCKADDR_IN);
      setField(buf, SOCKADDR_IN, 'sin_family', AF.INET);
      fieldBytes(buf, SOCKADDR_IN, 'sin_port').writeUInt16BE(checkPort(addr.port));
      parseIPv4(addr.address).copy(fieldBytes(buf, SOCKADDR_IN, 'sin_addr'));
      return buf;
    }
    case 'inet6': {
      const buf = allocStruct(SOCKADDR_IN6);
      setField(buf, SOCKADDR_IN6, 'sin6_family', AF.INET6);
      fieldBytes(buf, SOCKADDR_IN6, 'sin6_port').writeUInt16BE(checkPort(addr.port));
      fieldBytes(buf, SOCKADDR_IN6, 'sin6_flowinfo').writeUInt32BE((addr.flowinfo ?? 0) >>> 0);
      parseIPv6(addr.address).copy(fieldBytes(buf, SOCKADDR_IN6, 'sin6_addr'));
      setField(buf, SOCKADDR_IN6, 'sin6_scope_id', addr.scopeId ?? 0);
      return buf;
    }
    case 'raw': {
      const buf = Buffer.alloc(Math.max(2, addr.bytes.length));
      addr.bytes.copy(buf);
      buf.writeUInt16LE(addr.af, 0);
      return buf;
    }
  }
}

/** Decodes the first `len` bytes of a socket address buffer, as returned by accept/recvmsg/getsockname. */
export function decodeSockAddr(bytes: Uint8Array, len: number): SockAddr {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(len, bytes.byteLength));
  const af = buf.length >= 2 ? getNum(buf, SOCKADDR_STORAGE, 'ss_family') : AF.UNSPEC;
  if (af === AF.UNIX) {
    const raw = buf.subarray(SOCKADDR_UN.fields.sun_path.offset);
    if (raw.length > 0 && raw[0] === 0) return { family: 'unix', path: Buffer.from(raw.subarray(1)), abstract: true };
    const nul = raw.indexOf(0);
    return { family: 'unix', path: Buffer.from(nul < 0 ? raw : raw.subarray(0, nul)).toString('utf8') };
  }
  if (af === AF.INET && buf.length >= SOCKADDR_IN.size) {
    return {
      family: 'inet',
      address: formatIPv4(fieldBytes(buf, SOCKADDR_IN, 'sin_addr')),
      port: fieldBytes(buf, SOCKADDR_IN, 'sin_port').readUInt16BE(),
    };
  }
  if (af === AF.INET6 && buf.length >= SOCKADDR_IN6.size) {
    return {
      family: 'inet6',
      address: formatIPv6(fieldBytes(buf, SOCKADDR_IN6, 'sin6_addr')),
      port: fieldBytes(buf, SOCKADDR_IN6, 'sin6_port').readUInt16BE(),
      flowinfo: fieldBytes(buf, SOCKADDR_IN6, 'sin6_flowinfo').readUInt32BE(),
      scopeId: getNum(buf, SOCKADDR_IN6, 'sin6_scope_id'),
    };
  }
  return { family: 'raw', af, bytes: Buffer.from(buf) };
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`Invalid port ${port}`);
  return port;
}

/** The 4 bytes of a dotted-quad IPv4 address. */
export function parseIPv4(text: string): Buffer {
  if (!isIPv4(text)) throw new TypeError(`Invalid IPv4 address ${JSON.stringify(text)}`);
  return Buffer.from(text.split('.').map(Number));
}

/** The dotted-quad text of 4 address bytes. */
export function formatIPv4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

/** The 16 bytes of an IPv6 address (`::` compression and a dotted IPv4 tail accepted; no zone id). */
export function parseIPv6(text: string): Buffer {
  if (!isIPv6(text) || text.includes('%')) throw new TypeError(`Invalid IPv6 address ${JSON.stringify(text)}`);
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseIPv4(piece);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const [head, tail] = text.split('::') as [string, string | undefined];
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const zeros = 8 - front.length - back.length;
  const all = tail === undefined ? front : [...front, ...new Array<number>(zeros).fill(0), ...back];
  const buf = Buffer.alloc(16);
  all.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

/**
 * The RFC 5952 text of 16 address bytes (longest zero run as `::`, IPv4-mapped as `::ffff:a.b.c.d`
 * unless `dottedMapped` is false, which prints it in hex groups as Python's ipaddress does).
 */
export function formatIPv6(bytes: Uint8Array, opts?: { dottedMapped?: boolean }): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  if ((opts?.dottedMapped ?? true) && groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(b.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

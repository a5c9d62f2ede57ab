/**
 * The IP- and TCP-level options of an inet socket as CRIU records them: ip_opts_entry (free bind,
 * packet info, TOS and TTL for IPv4; free bind and packet info for IPv6) and tcp_opts_entry
 * (no-delay, cork, keepalive count/idle/interval), each field present only when it is not zero.
 */
import type { IpOptsEntry, IpOptsRawEntry, TcpOptsEntry } from '../../images/generated/types.js';
import { NET } from '../../net/constants.js';
import { AF, SOL, TCP, getsockopt, getsockoptInt, isSysError } from '../../sys/index.js';

/** ip_opts_entry of socket `fd` of family `family` (`AF.INET` or `AF.INET6`). */
export function dumpIpOpts(fd: number, family: number): IpOptsEntry {
  const int = (level: number, name: number): number => getsockoptInt(fd, { level, name });
  let freebind: number;
  let pktinfo: number;
  let tos = 0;
  let ttl = 0;
  if (family === AF.INET6) {
    freebind = ipv6Freebind(fd);
    pktinfo = int(SOL.IPV6, NET.IPV6_RECVPKTINFO);
  } else {
    freebind = int(SOL.IP, NET.IP_FREEBIND);
    pktinfo = int(SOL.IP, NET.IP_PKTINFO);
    tos = int(SOL.IP, NET.IP_TOS);
    ttl = int(SOL.IP, NET.IP_TTL);
  }
  const opts: IpOptsEntry = {};
  if (freebind !== 0) opts.freebind = true;
  if (pktinfo !== 0) opts.pktinfo = true;
  if (tos !== 0) opts.tos = tos >>> 0;
  if (ttl !== 0) opts.ttl = ttl >>> 0;
  return opts;
}

/**
 * ip_opts_entry of a raw socket, as CRIU records it: only its `raw` part — header included
 * (`IP_HDRINCL`/`IPV6_HDRINCL`), no defragmentation (`IP_NODEFRAG`, IPv4), and for ICMP raw
 * sockets the filter of ICMP types (`ICMP_FILTER`, one word; `ICMPV6_FILTER`, eight words).
 */
export function dumpIpRawOpts(fd: number, family: number, proto: number): IpOptsEntry {
  const raw: IpOptsRawEntry = {};
  const v6 = family === AF.INET6;
  if (getsockoptInt(fd, { level: v6 ? SOL.IPV6 : SOL.IP, name: v6 ? NET.IPV6_HDRINCL : NET.IP_HDRINCL }) !== 0) raw.hdrincl = true;
  if (!v6 && getsockoptInt(fd, { level: SOL.IP, name: NET.IP_NODEFRAG }) !== 0) raw.nodefrag = true;
  if (!v6 && proto === NET.IPPROTO_ICMP) raw.icmpv_filter = words(getsockopt(fd, { level: NET.SOL_RAW, name: NET.ICMP_FILTER }, { size: 4 }));
  if (v6 && proto === NET.IPPROTO_ICMPV6) raw.icmpv_filter = words(getsockopt(fd, { level: NET.IPPROTO_ICMPV6, name: NET.ICMPV6_FILTER }, { size: 32 }));
  return { raw };
}

function words(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= buf.length; i += 4) out.push(buf.readUInt32LE(i));
  return out;
}

/** `IPV6_FREEBIND` (Linux 4.15+), else the IPv4 option, which IPv6 sockets share. */
function ipv6Freebind(fd: number): number {
  try {
    return getsockoptInt(fd, { level: SOL.IPV6, name: NET.IPV6_FREEBIND });
  } catch (err) {
    if (!isSysError(err, 'ENOPROTOOPT')) throw err;
    return getsockoptInt(fd, { level: SOL.IP, name: NET.IP_FREEBIND });
  }
}

/** tcp_opts_entry of TCP socket `fd`. */
export function dumpTcpOpts(fd: number): TcpOptsEntry {
  const int = (name: number): number => getsockoptInt(fd, { level: SOL.TCP, name });
  const opts: TcpOptsEntry = {};
  if (int(TCP.NODELAY) !== 0) opts.nodelay = true;
  if (int(TCP.CORK) !== 0) opts.cork = true;
  const keepcnt = int(TCP.KEEPCNT);
  const keepidle = int(TCP.KEEPIDLE);
  const keepintvl = int(TCP.KEEPINTVL);
  if (keepcnt !== 0) opts.keepcnt = keepcnt >>> 0;
  if (keepidle !== 0) opts.keepidle = keepidle >>> 0;
  if (keepintvl !== 0) opts.keepintvl = keepintvl >>> 0;
  return opts;
}

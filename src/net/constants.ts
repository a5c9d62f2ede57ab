/**
 * Socket-level constants the socket dump needs beyond those of `sys` (options, ioctls, protocol
 * numbers), under their C names; test/unit/net-layout.test.ts checks each against the C headers.
 * The values are the same on x86_64 and aarch64 (asm-generic socket options; `SO_SNDTIMEO` and
 * `SO_RCVTIMEO` are the 64-bit `struct timeval` ones glibc uses on both).
 */
export const NET = Object.freeze({
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO: 21,
  SO_GET_FILTER: 26,
  SO_PASSSEC: 34,
  SO_BUF_LOCK: 72,
  SOL_UDP: 17,
  UDP_CORK: 1,
  IPPROTO_UDPLITE: 136,
  IP_TOS: 1,
  IP_TTL: 2,
  IP_PKTINFO: 8,
  IP_FREEBIND: 15,
  IPV6_V6ONLY: 26,
  IPV6_RECVPKTINFO: 49,
  IPV6_FREEBIND: 78,
  TCP_INFO: 11,
  IPPROTO_ICMP: 1,
  IPPROTO_ICMPV6: 58,
  IP_HDRINCL: 3,
  IP_NODEFRAG: 22,
  IPV6_CHECKSUM: 7,
  IPV6_HDRINCL: 36,
  SOL_RAW: 255,
  /** `struct icmp_filter` (one 32-bit mask) at SOL_RAW, for raw IPv4 ICMP sockets. */
  ICMP_FILTER: 1,
  /** `struct icmp6_filter` (eight 32-bit words) at IPPROTO_ICMPV6, for raw ICMPv6 sockets. */
  ICMPV6_FILTER: 1,
  /** `ioctl(sk, SIOCUNIXFILE)`: an `O_PATH` fd of the file a Unix socket is bound to. */
  SIOCUNIXFILE: 0x89e0,
  /** `ioctl(sk, SIOCGSKNS)`: an fd of the network namespace a socket lives in. */
  SIOCGSKNS: 0x894c,
});

/** TCP states (`TCP_*` of netinet/tcp.h), which Unix sockets use too (CLOSE, LISTEN, ESTABLISHED). */
export const TCP_STATE = Object.freeze({
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
});

/** Every constant of this module under its C name, for the header probe test. */
export function netConstantEntries(): Array<[string, number]> {
  return [...Object.entries(NET), ...Object.entries(TCP_STATE).map(([k, v]): [string, number] => [`TCP_${k}`, v])];
}

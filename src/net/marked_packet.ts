/**
 * Sending one hand-built IP packet through a raw socket with the header included, marked with
 * SOCCR_MARK (0xC114): the network lock drops every packet of a locked connection but those with
 * this mark, so this is how a restore talks to a connection it is rebuilding while the peer stays
 * locked out. `socket(AF_INET/AF_INET6, SOCK_RAW, IPPROTO_RAW)` implies the header is ours (the
 * kernel fills in only an IPv4 id of zero); `SO_MARK` needs CAP_NET_ADMIN.
 */
import { AF, IPPROTO, SO, SOCK, SOL, close, formatIPv4, formatIPv6, sendmsg, setsockopt, socket, type SockAddr } from '../sys/index.js';
import { SOCCR_MARK } from './network_lock.js';

/**
 * `sendto(raw, packet, dst)` with `SO_MARK` 0xC114 — sends `packet` (from `buildTcpPacket`) to
 * `dst` (its destination address, 4 or 16 bytes); throws the SysError of the step that failed.
 */
export function sendMarkedPacket(packet: Uint8Array, dst: Uint8Array): void {
  const v6 = dst.length === 16;
  const fd = socket(v6 ? AF.INET6 : AF.INET, SOCK.RAW | SOCK.CLOEXEC, { protocol: IPPROTO.RAW, what: 'open a raw socket to inject a TCP packet' });
  try {
    setsockopt(fd, { level: SOL.SOCKET, name: SO.MARK, value: SOCCR_MARK }, { what: 'mark the injected TCP packet for the network lock' });
    // The port of a raw destination is the protocol; 0 means the socket's own.
    const to: SockAddr = v6 ? { family: 'inet6', address: formatIPv6(dst), port: 0 } : { family: 'inet', address: formatIPv4(dst), port: 0 };
    const sent = sendmsg(fd, { data: packet, addr: to }, { what: 'inject a TCP packet' });
    if (sent !== packet.length) throw new Error(`only ${sent} of the ${packet.length} bytes of the injected packet were sent`);
  } finally {
    close(fd);
  }
}

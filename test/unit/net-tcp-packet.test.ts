/**
 * The packet builder of src/net/tcp_packet.ts: the Internet checksum against RFC 1071's worked
 * example, and whole packets against the kernel, which drops a TCP segment with a wrong checksum
 * without a word: a SYN we build and inject (marked, through a raw socket) to a listener on the
 * loopback is answered with its SYN-ACK, and the same SYN with one bit of its checksum flipped
 * is not (v4 and v6).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildTcpPacket, internetChecksum, TCP_FLAG } from '../../src/net/tcp_packet.js';
import { sendMarkedPacket } from '../../src/net/marked_packet.js';
import { AF, IPPROTO, MSG, SOCK, bind, close, getsockname, isSysError, listen, parseIPv4, parseIPv6, recvmsg, socket, type SockAddr } from '../../src/sys/index.js';

const open: number[] = [];
afterEach(() => {
  for (const fd of open.splice(0)) close(fd);
});

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('internetChecksum', () => {
  it('gives RFC 1071\'s example sum, split anywhere on a word boundary, and an odd tail padded', () => {
    const bytes = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(internetChecksum(bytes)).toBe(~0xddf2 & 0xffff);
    expect(internetChecksum(bytes.subarray(0, 2), bytes.subarray(2))).toBe(~0xddf2 & 0xffff);
    expect(internetChecksum(Uint8Array.of(0x12, 0x34, 0x56))).toBe(~(0x1234 + 0x5600) & 0xffff);
  });

  it('makes a header whose checksum over itself is zero (what a receiver checks)', () => {
    const packet = buildTcpPacket({ src: parseIPv4('10.1.2.3'), srcPort: 1, dst: parseIPv4('10.3.2.1'), dstPort: 2, seq: 0xfffffffe, ack: 5, flags: TCP_FLAG.ACK | TCP_FLAG.FIN, window: 0xffff });
    expect(packet.length).toBe(40);
    expect(internetChecksum(packet.subarray(0, 20))).toBe(0);
  });
});

for (const family of ['inet', 'inet6'] as const) {
  describe(`an injected SYN (${family})`, () => {
    const v6 = family === 'inet6';
    const loopback = v6 ? '::1' : '127.0.0.1';
    const addr = v6 ? parseIPv6(loopback) : parseIPv4(loopback);

    /** Listener, raw TCP capture, and the SYN we make to the listener from a port nobody holds. */
    function setUp(seq: number): { capture: number; syn: Buffer; listenPort: number; fromPort: number } {
      const listener = socket(v6 ? AF.INET6 : AF.INET, SOCK.STREAM, { protocol: IPPROTO.TCP });
      open.push(listener);
      bind(listener, { family, address: loopback, port: 0 } as SockAddr);
      listen(listener);
      const listenPort = (getsockname(listener) as { port: number }).port;
      const capture = socket(v6 ? AF.INET6 : AF.INET, SOCK.RAW, { protocol: IPPROTO.TCP });
      open.push(capture);
      const fromPort = 40_000 + Math.floor(Math.random() * 20_000);
      const syn = buildTcpPacket({ src: addr, srcPort: fromPort, dst: addr, dstPort: listenPort, seq, ack: 0, flags: TCP_FLAG.SYN, window: 65535 });
      return { capture, syn, listenPort, fromPort };
    }

    /** The SYN-ACK the listener sent to `fromPort`, if one came within `ms`. */
    function synAck(capture: number, listenPort: number, fromPort: number, ms: number): { ack: number } | undefined {
      const deadline = Date.now() + ms;
      const buf = Buffer.alloc(2048);
      while (Date.now() < deadline) {
        let n: number;
        try {
          n = recvmsg(capture, buf, { flags: MSG.DONTWAIT }).bytes;
        } catch (err) {
          if (!isSysError(err, 'EAGAIN')) throw err;
          pause(5);
          continue;
        }
        const tcp = v6 ? buf.subarray(0, n) : buf.subarray((buf[0]! & 0x0f) * 4, n); // v6 raw sockets get no IP header
        if (tcp.readUInt16BE(0) === listenPort && tcp.readUInt16BE(2) === fromPort && tcp[13] === (TCP_FLAG.SYN | TCP_FLAG.ACK)) return { ack: tcp.readUInt32BE(8) };
      }
      return undefined;
    }

    it('is answered when its checksum is right, ignored when it is not', () => {
      const good = setUp(0x7fff_fff0);
      sendMarkedPacket(good.syn, addr);
      expect(synAck(good.capture, good.listenPort, good.fromPort, 2000)).toEqual({ ack: 0x7fff_fff1 });

      const bad = setUp(1234);
      const tcpAt = v6 ? 40 : 20;
      bad.syn[tcpAt + 17] ^= 0x01;
      sendMarkedPacket(bad.syn, addr);
      expect(synAck(bad.capture, bad.listenPort, bad.fromPort, 500)).toBeUndefined();
    });
  });
}

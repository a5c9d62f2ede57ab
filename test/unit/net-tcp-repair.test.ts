/**
 * TCP repair on real loopback connections (v4 and v6): a connection with bytes queued both ways is
 * saved, its socket closed in repair mode (silently), rebuilt in a new socket, and then carries
 * data both ways with no byte lost or doubled — and the peer never saw a reset.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromTcpStreamEntry, restoreConnection, saveConnection, setRepair, tcpStreamEntry } from '../../src/net/tcp_repair.js';
import { AF, IPPROTO, MSG, SO, SOCK, SOL, accept, bind, close, connect, getsockname, isSysError, listen, recvmsg, setsockopt, socket, type SockAddr } from '../../src/sys/index.js';
import { encodeImage, decodeImage } from '../../src/images/framing.js';
import { buildImage } from '../../src/images/typed.js';
import { pattern, sendSome } from '../support/socket_bytes.js';

const open: number[] = [];
afterEach(() => {
  for (const fd of open.splice(0)) {
    try {
      close(fd);
    } catch {
      // already closed
    }
  }
});

function tcp(family: 'inet' | 'inet6'): number {
  const fd = socket(family === 'inet' ? AF.INET : AF.INET6, SOCK.STREAM, { protocol: IPPROTO.TCP });
  open.push(fd);
  return fd;
}

/** All bytes that can be read now (non-blocking). */
function drain(fd: number): Buffer {
  const chunks: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(1 << 16);
    let n: number;
    try {
      n = recvmsg(fd, buf, { flags: MSG.DONTWAIT }).bytes;
    } catch (err) {
      if (isSysError(err, 'EAGAIN')) break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
  }
  return Buffer.concat(chunks);
}



const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

for (const family of ['inet', 'inet6'] as const) {
  describe(`TCP repair (${family})`, () => {
    it('moves an established connection with data in flight to a new socket, losing nothing', () => {
      const loopback = family === 'inet' ? '127.0.0.1' : '::1';
      const listener = tcp(family);
      setsockopt(listener, { level: SOL.SOCKET, name: SO.RCVBUF, value: 16384 });
      bind(listener, { family, address: loopback, port: 0 } as SockAddr);
      listen(listener);
      const client = tcp(family);
      connect(client, getsockname(listener));
      const server = accept(listener);
      open.push(server);

      // Server → client: more than the client reads; client → server: more than the server's small
      // receive buffer takes, so the client's send queue holds data too.
      const toClient = pattern(1, 200_000);
      const toServer = pattern(2, 3_000_000);
      const sentToClient = sendSome(server, toClient);
      const sentToServer = sendSome(client, toServer);
      pause(50);

      const local = getsockname(client);
      const remote = getsockname(server);
      setRepair(client, true);
      const saved = saveConnection(client);
      expect(saved.inq.length).toBeGreaterThan(0);
      expect(saved.outq.length).toBeGreaterThan(0);
      // Through the image and back, as dump and restore will do.
      const { entry, extra } = tcpStreamEntry(saved);
      const image = decodeImage(encodeImage(buildImage('tcpStream', [{ entry, extra }], 1)));
      const loaded = fromTcpStreamEntry(image.entries[0]!.message as never, image.entries[0]!.extra as never);
      close(client); // in repair mode: nothing reaches the peer
      open.splice(open.indexOf(client), 1);

      const restored = tcp(family);
      setRepair(restored, true);
      restoreConnection(restored, loaded, local, remote);

      // Now both ends go on: everything arrives once and in order.
      let atClient = Buffer.alloc(0);
      let atServer = Buffer.alloc(0);
      let restToClient = sentToClient;
      let restToServer = sentToServer;
      for (let round = 0; round < 400 && (atClient.length < toClient.length || atServer.length < toServer.length); round++) {
        restToClient += sendSome(server, toClient.subarray(restToClient));
        restToServer += sendSome(restored, toServer.subarray(restToServer));
        atClient = Buffer.concat([atClient, drain(restored)]);
        atServer = Buffer.concat([atServer, drain(server)]);
        pause(2);
      }
      expect(atClient.length).toBe(toClient.length);
      expect(atClient.equals(toClient)).toBe(true);
      expect(atServer.length).toBe(toServer.length);
      expect(atServer.equals(toServer)).toBe(true);
    });
  });
}

/**
 * Half-closed and opening TCP connections through TCP repair on real loopback connections (v4 and
 * v6): one end is brought to SYN_SENT, FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK or CLOSING, saved, its socket closed in
 * repair mode (silently), rebuilt in a new socket — which must then be in the same state — and the
 * connection finishes as it would have: every byte arrives once, each side reads its EOF, and the
 * peer never sees a reset. As in a dump and restore, the connection is held by the network lock
 * (an nftables table of the test's) from before it is saved until it resumes: without it, the
 * live peer's segments can meet the socket half-rebuilt (its window not set yet, its unsent data
 * being written) and the connection is reset.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkLock } from '../../src/net/network_lock.js';
import { TCP_STATE } from '../../src/net/constants.js';
import { lengthsWithoutFin, seqsBeforeFins, tcpState, tcpStateName } from '../../src/net/tcp_half_closed.js';
import { fromTcpStreamEntry, rebuildConnection, resumeConnection, saveConnection, setRepair, tcpStreamEntry, type TcpConnectionState } from '../../src/net/tcp_repair.js';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { buildImage } from '../../src/images/typed.js';
import {
  AF, IPPROTO, MSG, SHUT, SO, SOCK, SOL, accept, bind, close, connect, getsockname, isSysError, listen, recvmsg, setsockopt, shutdown, socket, type SockAddr,
} from '../../src/sys/index.js';
import { pattern, sendSome } from '../support/socket_bytes.js';

const open: number[] = [];
const locks: NetworkLock[] = [];
afterEach(() => {
  for (const lock of locks.splice(0)) lock.release();
  for (const fd of open.splice(0)) {
    try {
      close(fd);
    } catch {
      // already closed
    }
  }
});

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function tcp(family: 'inet' | 'inet6'): number {
  const fd = socket(family === 'inet' ? AF.INET : AF.INET6, SOCK.STREAM, { protocol: IPPROTO.TCP });
  open.push(fd);
  return fd;
}

/** What a non-blocking read finds now: the bytes, and whether EOF came after them. */
function drain(fd: number): { data: Buffer; eof: boolean } {
  const chunks: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(1 << 16);
    let n: number;
    try {
      n = recvmsg(fd, buf, { flags: MSG.DONTWAIT }).bytes;
    } catch (err) {
      if (isSysError(err, 'EAGAIN')) return { data: Buffer.concat(chunks), eof: false };
      throw err;
    }
    if (n === 0) return { data: Buffer.concat(chunks), eof: true };
    chunks.push(buf.subarray(0, n));
  }
}



/** A connected pair on loopback; the server's receive buffer small, so a client's data backs up. */
function pair(family: 'inet' | 'inet6'): { client: number; server: number } {
  const listener = tcp(family);
  setsockopt(listener, { level: SOL.SOCKET, name: SO.RCVBUF, value: 16384 });
  bind(listener, { family, address: family === 'inet' ? '127.0.0.1' : '::1', port: 0 } as SockAddr);
  listen(listener);
  const client = tcp(family);
  connect(client, getsockname(listener));
  const server = accept(listener);
  open.push(server);
  return { client, server };
}

/** Saves `fd` (through a tcp-stream image), closes it in repair mode, rebuilds it in a new socket. */
function moveConnection(family: 'inet' | 'inet6', fd: number): Moved {
  const local = getsockname(fd);
  const remote = getsockname(peerOf.get(fd)!);
  const ends = [local, remote] as Array<{ address: string; port: number }>;
  const lock = NetworkLock.take(randomUUID(), [
    { family: family === 'inet' ? 4 : 6, localAddress: ends[0]!.address, localPort: ends[0]!.port, remoteAddress: ends[1]!.address, remotePort: ends[1]!.port },
  ]);
  locks.push(lock);
  setRepair(fd, true);
  const saved = saveConnection(fd);
  const { entry, extra } = tcpStreamEntry(saved);
  const image = decodeImage(encodeImage(buildImage('tcpStream', [{ entry, extra }], 1)));
  const loaded = fromTcpStreamEntry(image.entries[0]!.message as never, image.entries[0]!.extra as never, saved.state);
  close(fd);
  open.splice(open.indexOf(fd), 1);
  const restored = tcp(family);
  setRepair(restored, true);
  rebuildConnection(restored, loaded, local, remote);
  return { fd: restored, saved, lock };
}

interface Moved {
  fd: number;
  saved: TcpConnectionState;
  lock: NetworkLock;
}

/** Repair mode off and the never-sent data written, then the lock dropped: the connection is live again. */
function resume(moved: Moved): void {
  resumeConnection(moved.fd, moved.saved);
  moved.lock.release();
}
const peerOf = new Map<number, number>();

/** Reads both ends until `done` says so (or 2 s pass); returns what each got. */
function pump(a: number, b: number, toB: Buffer, sentToB: number, done: (at: { a: ReturnType<typeof drain>; b: ReturnType<typeof drain> }) => boolean) {
  const atA = { data: Buffer.alloc(0), eof: false };
  const atB = { data: Buffer.alloc(0), eof: false };
  let sent = sentToB;
  for (let round = 0; round < 1000; round++) {
    if (sent < toB.length) sent += sendSome(a, toB.subarray(sent));
    for (const [fd, at] of [[a, atA], [b, atB]] as const) {
      if (at.eof) continue;
      const got = drain(fd);
      at.data = Buffer.concat([at.data, got.data]);
      at.eof = got.eof;
    }
    if (done({ a: atA, b: atB })) break;
    pause(2);
  }
  return { a: atA, b: atB, sent };
}

describe('FIN accounting', () => {
  it('our FIN leaves the byte counts and is taken off write_seq at restore; theirs off rcv_nxt', () => {
    expect(lengthsWithoutFin(TCP_STATE.FIN_WAIT1, 11, 11)).toEqual({ outq: 10, unsent: 10 });
    expect(lengthsWithoutFin(TCP_STATE.FIN_WAIT1, 11, 0)).toEqual({ outq: 10, unsent: 0 });
    expect(lengthsWithoutFin(TCP_STATE.FIN_WAIT2, 0, 0)).toEqual({ outq: 0, unsent: 0 });
    expect(lengthsWithoutFin(TCP_STATE.CLOSE_WAIT, 5, 5)).toEqual({ outq: 5, unsent: 5 });
    expect(seqsBeforeFins(TCP_STATE.CLOSING, 100, 0)).toEqual({ inqSeq: 99, outqSeq: 0xffffffff });
    expect(seqsBeforeFins(TCP_STATE.CLOSE_WAIT, 100, 7)).toEqual({ inqSeq: 99, outqSeq: 7 });
    expect(seqsBeforeFins(TCP_STATE.FIN_WAIT2, 100, 7)).toEqual({ inqSeq: 100, outqSeq: 6 });
    expect(seqsBeforeFins(TCP_STATE.ESTABLISHED, 100, 7)).toEqual({ inqSeq: 100, outqSeq: 7 });
  });
});

for (const family of ['inet', 'inet6'] as const) {
  describe(`half-closed TCP repair (${family})`, () => {
    it('SYN_SENT: a connect the listener has not answered yet completes after the move, once it is', () => {
      // A listener with a full accept queue (backlog 0, one connection not accepted) drops SYNs.
      const listener = tcp(family);
      bind(listener, { family, address: family === 'inet' ? '127.0.0.1' : '::1', port: 0 } as SockAddr);
      listen(listener, { backlog: 0 });
      const first = tcp(family);
      connect(first, getsockname(listener));
      const client = socket(family === 'inet' ? AF.INET : AF.INET6, SOCK.STREAM | SOCK.NONBLOCK, { protocol: IPPROTO.TCP });
      open.push(client);
      expect(() => connect(client, getsockname(listener))).toThrow(/EINPROGRESS/);
      pause(20);
      expect(tcpStateName(tcpState(client))).toBe('SYN_SENT');

      peerOf.set(client, listener);
      const moved = moveConnection(family, client);
      expect(moved.saved.outq.length + moved.saved.inq.length).toBe(0);
      expect(tcpStateName(tcpState(moved.fd))).toBe('SYN_SENT');
      resume(moved);
      open.push(accept(listener)); // room in the queue: the next SYN sent again is answered
      for (let i = 0; i < 400 && tcpState(moved.fd) === TCP_STATE.SYN_SENT; i++) pause(10);
      expect(tcpStateName(tcpState(moved.fd))).toBe('ESTABLISHED');
      const server = accept(listener);
      open.push(server);
      const hello = pattern(7, 1000);
      expect(sendSome(moved.fd, hello)).toBe(hello.length);
      pause(20);
      expect(drain(server).data.equals(hello)).toBe(true);
    });

    it('FIN_WAIT2: we shut down writing, the peer goes on sending, then closes; we read it all and EOF', () => {
      const { client, server } = pair(family);
      peerOf.set(client, server);
      shutdown(client, SHUT.WR);
      const first = pattern(1, 100_000);
      const sent1 = sendSome(server, first);
      pause(30);
      expect(drain(server)).toEqual({ data: Buffer.alloc(0), eof: true });
      expect(tcpStateName(tcpState(client))).toBe('FIN_WAIT2');

      const moved = moveConnection(family, client);
      expect(moved.saved.inq.length).toBe(sent1);
      expect(tcpStateName(tcpState(moved.fd))).toBe('FIN_WAIT2');
      resume(moved);
      expect(tcpStateName(tcpState(moved.fd))).toBe('FIN_WAIT2');

      const all = pattern(1, 300_000);
      const r = pump(server, moved.fd, all, sent1, ({ b }) => b.data.length === all.length);
      expect(r.b.data.equals(all)).toBe(true);
      shutdown(server, SHUT.WR);
      const end = pump(server, moved.fd, all, all.length, ({ b }) => b.eof);
      expect(end.b).toEqual({ data: Buffer.alloc(0), eof: true });
      // TIME_WAIT is kept by a timewait socket of the kernel's; ours, still open, is done.
      expect(tcpStateName(tcpState(moved.fd))).toBe('CLOSE');
    });

    it('CLOSE_WAIT: the peer sent data then its FIN; we read the data and EOF, and still send', () => {
      const { client, server } = pair(family);
      peerOf.set(client, server);
      const fromServer = pattern(2, 50_000);
      expect(sendSome(server, fromServer)).toBe(fromServer.length);
      shutdown(server, SHUT.WR);
      pause(30);
      expect(tcpStateName(tcpState(client))).toBe('CLOSE_WAIT');

      const moved = moveConnection(family, client);
      expect(moved.saved.inq.length).toBe(fromServer.length);
      expect(tcpStateName(tcpState(moved.fd))).toBe('CLOSE_WAIT');
      resume(moved);
      expect(drain(moved.fd)).toEqual({ data: fromServer, eof: true });

      const toServer = pattern(3, 500_000);
      const r = pump(moved.fd, server, toServer, 0, ({ b }) => b.data.length === toServer.length);
      expect(r.b.data.equals(toServer)).toBe(true);
      shutdown(moved.fd, SHUT.WR);
      const end = pump(moved.fd, server, toServer, toServer.length, ({ b }) => b.eof);
      expect(end.b.eof).toBe(true);
    });

    it('FIN_WAIT1 with data never sent: the peer gets every byte, then EOF', () => {
      const { client, server } = pair(family);
      peerOf.set(client, server);
      const toServer = pattern(4, 4_000_000);
      const sent = sendSome(client, toServer);
      pause(30);
      shutdown(client, SHUT.WR);
      expect(tcpStateName(tcpState(client))).toBe('FIN_WAIT1');

      const moved = moveConnection(family, client);
      expect(moved.saved.unsentLength).toBeGreaterThan(0);
      expect(tcpStateName(tcpState(moved.fd))).toBe('FIN_WAIT1');
      resume(moved);
      const r = pump(moved.fd, server, toServer.subarray(0, sent), sent, ({ b }) => b.eof);
      expect(r.b.data.length).toBe(sent);
      expect(r.b.data.equals(toServer.subarray(0, sent))).toBe(true);
      expect(r.b.eof).toBe(true);
      pause(30);
      expect(tcpStateName(tcpState(moved.fd))).toBe('FIN_WAIT2');
    });

    it('LAST_ACK: the peer closed, we sent data and closed too; the peer gets every byte, then EOF', () => {
      const { client, server } = pair(family);
      peerOf.set(client, server);
      shutdown(server, SHUT.WR);
      pause(20);
      const toServer = pattern(5, 4_000_000);
      const sent = sendSome(client, toServer);
      pause(30);
      shutdown(client, SHUT.WR);
      expect(tcpStateName(tcpState(client))).toBe('LAST_ACK');

      const moved = moveConnection(family, client);
      expect(tcpStateName(tcpState(moved.fd))).toBe('LAST_ACK');
      resume(moved);
      expect(drain(moved.fd).eof).toBe(true);
      const r = pump(moved.fd, server, toServer.subarray(0, sent), sent, ({ b }) => b.eof);
      expect(r.b.data.equals(toServer.subarray(0, sent))).toBe(true);
      expect(r.b.eof).toBe(true);
      pause(30);
      expect(tcpStateName(tcpState(moved.fd))).toBe('CLOSE');
    });

    it('CLOSING: both FINs sent, ours not yet acknowledged; both ends read everything and EOF', () => {
      const { client, server } = pair(family);
      peerOf.set(client, server);
      const toServer = pattern(6, 4_000_000);
      const sent = sendSome(client, toServer);
      pause(30);
      shutdown(client, SHUT.WR);
      shutdown(server, SHUT.WR);
      pause(30);
      expect(tcpStateName(tcpState(client))).toBe('CLOSING');

      const moved = moveConnection(family, client);
      expect(tcpStateName(tcpState(moved.fd))).toBe('CLOSING');
      resume(moved);
      expect(drain(moved.fd).eof).toBe(true);
      const r = pump(moved.fd, server, toServer.subarray(0, sent), sent, ({ b }) => b.eof);
      expect(r.b.data.equals(toServer.subarray(0, sent))).toBe(true);
      expect(r.b.eof).toBe(true);
      pause(30);
      // TIME_WAIT is kept by a timewait socket of the kernel's; ours, still open, is done.
      expect(tcpStateName(tcpState(moved.fd))).toBe('CLOSE');
    });
  });
}

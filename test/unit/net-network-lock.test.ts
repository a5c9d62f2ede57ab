/**
 * The nftables network lock on a real loopback connection: while locked, bytes sent do not
 * arrive (and the peer gets no reset); once released, TCP retransmits them. No table of ours
 * outlives a test.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { NetworkLock, NetworkLockError, lockTableName, staleLocks, unlockRun } from '../../src/net/network_lock.js';
import { AF, IPPROTO, MSG, SOCK, accept, bind, close, connect, getsockname, isSysError, listen, recvmsg, sendmsg, socket } from '../../src/sys/index.js';

const fds: number[] = [];
/** The tables this file created: none may outlive it (other runs' tables are not ours to judge). */
const ours: string[] = [];
afterAll(() => {
  for (const fd of fds) close(fd);
  expect(staleLocks().filter((t) => ours.includes(t))).toEqual([]);
});

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function pair(): { client: number; server: number; clientPort: number; serverPort: number } {
  const listener = socket(AF.INET, SOCK.STREAM, { protocol: IPPROTO.TCP });
  bind(listener, { family: 'inet', address: '127.0.0.1', port: 0 });
  listen(listener);
  const client = socket(AF.INET, SOCK.STREAM, { protocol: IPPROTO.TCP });
  connect(client, getsockname(listener));
  const server = accept(listener);
  close(listener);
  fds.push(client, server);
  const port = (fd: number) => (getsockname(fd) as { port: number }).port;
  return { client, server, clientPort: port(client), serverPort: port(server) };
}

function readNow(fd: number): string {
  const buf = Buffer.alloc(4096);
  try {
    return buf.subarray(0, recvmsg(fd, buf, { flags: MSG.DONTWAIT }).bytes).toString();
  } catch (err) {
    if (isSysError(err, 'EAGAIN')) return '';
    throw err;
  }
}

describe('network lock', () => {
  it('names its table as CRIU does (the run id cut to fit CRIU’s 32-byte buffer)', () => {
    expect(lockTableName('12960a67-fce8-41a3-94c1-9c6bdadc3a3e')).toBe('CRIU-12960a67-fce8-41a3-94');
  });

  it('holds back the packets of a locked connection, and lets them through once released', () => {
    const c = pair();
    const lock = NetworkLock.take(randomUUID(), [
      { family: 4, localAddress: '127.0.0.1', localPort: c.clientPort, remoteAddress: '127.0.0.1', remotePort: c.serverPort },
    ]);
    ours.push(lock.table);
    try {
      expect(staleLocks()).toContain(lock.table);
      sendmsg(c.client, { data: Buffer.from('held back') });
      pause(300);
      expect(readNow(c.server)).toBe('');
    } finally {
      lock.release();
    }
    expect(staleLocks()).not.toContain(lock.table);
    let got = '';
    for (let i = 0; i < 300 && got === ''; i++) {
      pause(20);
      got = readNow(c.server);
    }
    expect(got).toBe('held back'); // retransmitted: no reset, nothing lost
    // Other connections were never affected.
    const other = pair();
    sendmsg(other.client, { data: Buffer.from('free') });
    pause(50);
    expect(readNow(other.server)).toBe('free');
  });

  it('unlocks by run id, as restore does, and releasing twice is harmless', () => {
    const runId = randomUUID();
    const lock = NetworkLock.take(runId, []);
    ours.push(lock.table);
    unlockRun(runId);
    expect(staleLocks()).not.toContain(lock.table);
    lock.release();
    lock.release();
  });

  it('says clearly when nftables is missing', () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      expect(() => NetworkLock.take(randomUUID(), [])).toThrow(NetworkLockError);
      try {
        NetworkLock.take(randomUUID(), []);
      } catch (err) {
        expect((err as NetworkLockError).code).toBe('NETLOCK_UNAVAILABLE');
        expect((err as Error).message).toMatch(/apt-get install nftables/);
      }
    } finally {
      process.env['PATH'] = path;
    }
  });
});

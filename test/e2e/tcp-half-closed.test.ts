/**
 * Half-closed TCP connections through a dump (killed) and a restore, with --tcp-established: a
 * client in the tree (test/programs/tcp_half_closed.c) and a server in this process, the
 * connection in FIN_WAIT2, CLOSE_WAIT, FIN_WAIT1, CLOSING, LAST_ACK or SYN_SENT on the tree's
 * side at the dump. Both ends' states (from /proc/net/tcp and tcp6) are the same before the dump and after the
 * restore; then the connection finishes: each side reads every byte the other sent, once and in
 * order (the numbered stream, checked on arrival at both ends), then its EOF, and the server never
 * sees a reset. No nftables table of ours is left behind.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries, readSingle } from '../../src/images/typed.js';
import { lockTableName, staleLocks, unlockRun } from '../../src/net/network_lock.js';
import { AF, IPPROTO, SOCK, accept, bind, close, getsockname, listen, socket } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, signalProgram, startProgram, type Target } from '../support/programs.js';
import { killRestored, pidTaken, seedsAlive } from '../support/restore.js';
import { criuTsAsync, waitOutput, waitUntil } from '../support/async.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-tcp-half-'));
const restored = new Set<number>();
const runIds = new Set<string>();
const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
  killRestored(restored);
  killAllPrograms();
  for (const id of runIds) unlockRun(id);
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

let serial = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const patternByte = (i: number) => (i * 7 + 3) & 0xff;
const stream = (from: number, length: number) => Buffer.from(Array.from({ length }, (_, k) => patternByte(from + k)));

const STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];

/** The state of the socket from local port `from` to port `to`, as /proc/net/tcp{,6} list it ('' if none). */
function tcpState(from: number, to: number): string {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const port = (col: string) => parseInt(col.split(':')[1]!, 16);
      if (port(cols[1]!) === from && port(cols[2]!) === to) return STATES[parseInt(cols[3]!, 16)] ?? cols[3]!;
    }
  }
  return '';
}

/** The fd of the (only) socket of task `pid`. */
function socketFd(pid: number): string {
  return readdirSync(`/proc/${pid}/fd`).find((n) => /^socket:/.test(readlinkSync(`/proc/${pid}/fd/${n}`)))!;
}

/** Every state of a socket to or from `port`, as /proc/net/tcp lists them. */
function statesOfPort(port: number): string {
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    const p = (col: string) => parseInt(col.split(':')[1]!, 16);
    if (p(cols[1]!) === port || p(cols[2]!) === port) out.push(STATES[parseInt(cols[3]!, 16)] ?? cols[3]!);
  }
  return out.join(' ');
}

/** The server end of one connection: what it received (checked byte by byte), and how it ended. */
class Peer {
  readonly server: Server;
  socket: Socket | undefined;
  received = 0;
  sent = 0;
  ended = false;
  closed = false;
  problem: string | undefined;

  constructor(opts: { pauseOnConnect: boolean }, onConnection: (peer: Peer) => void) {
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: opts.pauseOnConnect }, (s) => {
      this.socket = s;
      sockets.push(s);
      s.on('data', (d: Buffer) => {
        for (const byte of d) {
          if (this.problem === undefined && byte !== patternByte(this.received)) this.problem = `byte ${this.received} is ${byte}, not ${patternByte(this.received)}`;
          this.received++;
        }
      });
      s.on('end', () => (this.ended = true));
      s.on('error', (err) => (this.problem ??= `socket error: ${err.message}`));
      s.on('close', () => (this.closed = true));
      onConnection(this);
    });
    servers.push(this.server);
  }

  async listen(host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, host, r));
    return (this.server.address() as AddressInfo).port;
  }

  /** The client's port (the tree's end). */
  get clientPort(): number {
    return this.socket!.remotePort!;
  }

  send(length: number): void {
    this.socket!.write(stream(this.sent, length));
    this.sent += length;
  }
}

/** Dumps the tree of `target` (killed), checks the lock stays, restores it; returns the image dir. */
async function dumpAndRestore(target: Target, between?: () => void): Promise<string> {
  const dir = join(scratch, `half-${++serial}`);
  const dump = await criuTsAsync(['dump', '-t', String(target.pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
  expect(dump.stderr).toBe('');
  expect(dump.status).toBe(0);
  const runId = readSingle(ImageDir.open(dir), 'inventory').dump_criu_run_id!;
  runIds.add(runId);
  expect(staleLocks()).toContain(lockTableName(runId));
  await waitUntil(() => !pidTaken(target.pid), `PID ${target.pid} to be free`);
  between?.();
  await sleep(200);
  const restore = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
  expect(restore.stderr).toBe('');
  expect(restore.status).toBe(0);
  restored.add(target.pid);
  expect(staleLocks()).not.toContain(lockTableName(runId));
  return dir;
}

/** The state files.img records for the tree's connection, and its tcp-stream queue lengths. */
function imageOf(dir: string): { state: number; inq: number; outq: number; unsq: number } {
  const images = ImageDir.open(dir);
  const sk = readEntries(images, 'files').flatMap((f) => (f.isk !== undefined && f.isk.dst_port !== 0 ? [f.isk] : []));
  expect(sk).toHaveLength(1);
  const s = readEntries(images, 'tcpStream', sk[0]!.ino)[0]!;
  return { state: sk[0]!.state, inq: s.inq_len, outq: s.outq_len, unsq: s.unsq_len ?? 0 };
}

describe('half-closed TCP connections (--tcp-established)', () => {
  it('FIN_WAIT2: the tree shut down its writing, the server goes on sending (also while the tree is gone), then closes', async () => {
    const peer = new Peer({ pauseOnConnect: false }, (p) => p.send(65536));
    const port = await peer.listen();
    const client = startProgram('tcp_half_closed', { args: ['4', String(port), 'shut-read'] });
    await waitOutput(client, /shut/);
    await waitUntil(() => peer.ended, 'the server to see the tree\'s FIN');
    const from = peer.clientPort;
    await waitUntil(() => tcpState(from, port) === 'FIN_WAIT2', `FIN_WAIT2 (is ${tcpState(from, port)})`);
    expect(tcpState(port, from)).toBe('CLOSE_WAIT');

    const dir = await dumpAndRestore(client, () => peer.send(65536));
    expect(imageOf(dir)).toMatchObject({ state: 5, inq: 65536, outq: 0 });
    expect(tcpState(from, port)).toBe('FIN_WAIT2');
    expect(tcpState(port, from)).toBe('CLOSE_WAIT');

    peer.send(65536);
    peer.socket!.end();
    signalProgram(client, 'SIGUSR1');
    expect((await waitOutput(client, /(PASS|FAIL).*\n/))[0]).toBe(`PASS read ${3 * 65536}\n`);
    await waitUntil(() => peer.closed, 'the server socket to close');
    expect(peer.problem).toBeUndefined();
  });

  for (const family of ['4', '6'] as const) {
    it(`CLOSE_WAIT (IPv${family}): the server sent data and closed its side; the tree reads the data and EOF, then sends`, async () => {
      const peer = new Peer({ pauseOnConnect: false }, (p) => {
        p.send(100_000);
        p.socket!.end();
      });
      const port = await peer.listen(family === '6' ? '::1' : '127.0.0.1');
      const client = startProgram('tcp_half_closed', { args: [family, String(port), 'read-write', '300000'] });
      await waitOutput(client, /connected/);
      await waitUntil(() => peer.socket !== undefined, 'the connection');
      const from = peer.clientPort;
      await waitUntil(() => tcpState(from, port) === 'CLOSE_WAIT', `CLOSE_WAIT (is ${tcpState(from, port)})`);
      await waitUntil(() => tcpState(port, from) === 'FIN_WAIT2', `the server in FIN_WAIT2 (is ${tcpState(port, from)})`);

      const dir = await dumpAndRestore(client);
      expect(imageOf(dir)).toMatchObject({ state: 8, inq: 100_000, outq: 0 });
      expect(tcpState(from, port)).toBe('CLOSE_WAIT');
      expect(tcpState(port, from)).toBe('FIN_WAIT2');

      signalProgram(client, 'SIGUSR1');
      expect((await waitOutput(client, /(PASS|FAIL).*\n/))[0]).toBe('PASS read 100000 wrote 300000\n');
      await waitUntil(() => peer.ended, 'the server to read EOF');
      expect(peer.received).toBe(300_000);
      await waitUntil(() => peer.closed, 'the server socket to close');
      expect(peer.problem).toBeUndefined();
    });
  }

  for (const closing of [false, true]) {
    const state = closing ? 'CLOSING' : 'FIN_WAIT1';
    it(`${state}: the tree filled the buffers of a server that does not read, then shut down${closing ? ', and the server closed its side too' : ''}; every byte and the EOFs arrive`, async () => {
      const peer = new Peer({ pauseOnConnect: true }, () => {});
      const port = await peer.listen();
      const client = startProgram('tcp_half_closed', { args: ['4', String(port), 'fill-shut'] });
      const wrote = Number((await waitOutput(client, /shut wrote (\d+)/))[1]);
      await waitUntil(() => peer.socket !== undefined, 'the connection');
      const from = peer.clientPort;
      if (closing) peer.socket!.end();
      await waitUntil(() => tcpState(from, port) === state, `${state} (is ${tcpState(from, port)})`);
      // The server's FIN was acknowledged; the tree's is still behind its unsent data.
      const peerState = closing ? 'FIN_WAIT2' : 'ESTABLISHED';
      await waitUntil(() => tcpState(port, from) === peerState, `the server in ${peerState} (is ${tcpState(port, from)})`);

      const dir = await dumpAndRestore(client);
      const image = imageOf(dir);
      expect(image.state).toBe(closing ? 11 : 4);
      expect(image.unsq).toBeGreaterThan(0); // data never sent, then our FIN behind it
      expect(tcpState(from, port)).toBe(state);
      expect(tcpState(port, from)).toBe(peerState);

      peer.socket!.resume();
      await waitUntil(() => peer.ended, 'the server to read everything and EOF', 30_000);
      expect(peer.received).toBe(wrote);
      if (!closing) peer.socket!.end();
      signalProgram(client, 'SIGUSR1');
      expect((await waitOutput(client, /(PASS|FAIL).*\n/))[0]).toBe(`PASS wrote ${wrote} read 0\n`);
      await waitUntil(() => peer.closed, 'the server socket to close');
      expect(peer.problem).toBeUndefined();
    });
  }

  it('LAST_ACK: the server closed first, the tree read it all, filled the server\'s buffers and closed too; every byte arrives', async () => {
    const peer = new Peer({ pauseOnConnect: true }, (p) => {
      p.send(50_000);
      p.socket!.end();
    });
    const port = await peer.listen();
    // Not waited for synchronously: the server (this event loop) must answer first.
    const client = startProgram('tcp_half_closed', { args: ['4', String(port), 'eof-fill-shut'], waitReady: false });
    const m = await waitOutput(client, /shut wrote (\d+) read (\d+)/);
    expect(Number(m[2])).toBe(50_000);
    const wrote = Number(m[1]);
    const from = peer.clientPort;
    await waitUntil(() => tcpState(from, port) === 'LAST_ACK', `LAST_ACK (is ${tcpState(from, port)})`);
    await waitUntil(() => tcpState(port, from) === 'FIN_WAIT2', `the server in FIN_WAIT2 (is ${tcpState(port, from)})`);

    const dir = await dumpAndRestore(client);
    expect(imageOf(dir).state).toBe(9);
    expect(tcpState(from, port)).toBe('LAST_ACK');
    expect(tcpState(port, from)).toBe('FIN_WAIT2');

    peer.socket!.resume();
    await waitUntil(() => peer.ended, `the server to read everything and EOF (${peer.received} of ${wrote})`, 30_000);
    expect(peer.received).toBe(wrote);
    signalProgram(client, 'SIGUSR1');
    expect((await waitOutput(client, /(PASS|FAIL).*\n/))[0]).toBe(`PASS wrote ${wrote} read 50000\n`);
    await waitUntil(() => peer.closed, 'the server socket to close');
    expect(peer.problem).toBeUndefined();
  });

  it('SYN_SENT: a connect the server has not answered at the dump completes after the restore, once it is answered', async () => {
    // A listener whose accept queue is full (backlog 0, one connection never accepted) drops the
    // next SYN: that client stays in SYN_SENT, sending it again.
    const listener = socket(AF.INET, SOCK.STREAM | SOCK.CLOEXEC, { protocol: IPPROTO.TCP });
    try {
      bind(listener, { family: 'inet', address: '127.0.0.1', port: 0 });
      listen(listener, { backlog: 0 });
      const port = (getsockname(listener) as { port: number }).port;
      const first = netConnect({ host: '127.0.0.1', port });
      sockets.push(first);
      await new Promise<void>((r) => first.on('connect', () => r()));
      const client = startProgram('tcp_half_closed', { args: ['4', String(port), 'connect-wait'] });
      await waitOutput(client, /connecting/);
      await waitUntil(() => /SYN_SENT/.test(statesOfPort(port)), `SYN_SENT (${statesOfPort(port)})`);

      const dir = await dumpAndRestore(client);
      expect(imageOf(dir)).toMatchObject({ state: 2, inq: 0, outq: 0 });
      expect(statesOfPort(port)).toMatch(/SYN_SENT/);
      close(accept(listener)); // room in the queue: the SYN the restored client sends again is answered
      await waitUntil(() => !/SYN_SENT/.test(statesOfPort(port)), `the connection to open (${statesOfPort(port)})`);
      signalProgram(client, 'SIGUSR1');
      expect((await waitOutput(client, /(PASS|FAIL).*\n/))[0]).toBe('PASS connected\n');
    } finally {
      close(listener);
    }
  });

  it('a restore refuses a connection state it cannot rebuild before anything starts, naming task, fd and connection', async () => {
    const peer = new Peer({ pauseOnConnect: false }, (p) => p.socket!.end());
    const port = await peer.listen();
    const client = startProgram('tcp_half_closed', { args: ['4', String(port), 'read-write', '10'] });
    await waitOutput(client, /connected/);
    await waitUntil(() => peer.socket !== undefined && tcpState(peer.clientPort, port) === 'CLOSE_WAIT', 'CLOSE_WAIT');
    const fd = socketFd(client.pid);
    const dir = join(scratch, `refused-${++serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(client.pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
    expect(dump.status).toBe(0);
    runIds.add(readSingle(ImageDir.open(dir), 'inventory').dump_criu_run_id!);
    await waitUntil(() => !pidTaken(client.pid), `PID ${client.pid} to be free`);

    // The same images, the connection's state made TIME_WAIT (a socket with an fd is never in it).
    const file = join(dir, 'files.img');
    const original = readFileSync(file);
    const image = decodeImage(original);
    const entry = image.entries.find((e) => (e.message['isk'] as Record<string, unknown> | undefined)?.['dst_port'] === port)!;
    const isk = entry.message['isk'] as Record<string, unknown>;
    isk['state'] = 6;
    writeFileSync(file, encodeImage(image));
    const refused = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(new RegExp(`Task ${client.pid}, fd ${fd}: TCP socket 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port} \\(file \\d+\\) is TIME_WAIT: only established, opening \\(SYN_SENT\\) and half-closed connections .* are restored.*\\[RESTORE_UNSUPPORTED\\]`));
    expect(pidTaken(client.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);

    // The connection is still locked, its images untouched by the failure: the right ones restore.
    writeFileSync(file, original);
    const again = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    restored.add(client.pid);
    expect(tcpState(peer.clientPort, port)).toBe('CLOSE_WAIT');
    signalProgram(client, 'SIGUSR1');
    expect((await waitOutput(client, /(PASS|FAIL).*\n/))[0]).toBe('PASS read 0 wrote 10\n');
    await waitUntil(() => peer.ended && peer.received === 10, 'the server to read the 10 bytes and EOF');
    expect(peer.problem).toBeUndefined();
  });

  it('leaves none of its nftables tables behind', () => {
    const left = staleLocks();
    for (const id of runIds) expect(left).not.toContain(lockTableName(id));
  });
});

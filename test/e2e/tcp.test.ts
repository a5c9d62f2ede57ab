/**
 * TCP connections through a dump (killed) and a restore, with --tcp-established: the peers outside
 * the tree only see a pause, and every byte arrives once, in order (each side checks a numbered
 * stream end to end).
 *
 * - A server in the tree (test/programs/tcp_echo_server.c) with three clients in this process,
 *   which stop reading before the dump so that bytes wait in the server's queues both ways.
 * - A client in the tree (tcp_stream_client.c) with an echo server in this process, over IPv4
 *   and IPv6.
 * - The lock: taken before the freeze (no nft → NETLOCK_UNAVAILABLE, the tree never touched),
 *   left in place for the restore when the tree is killed, dropped by the restore; none of our
 *   tables is left behind.
 * - A listener whose port is taken at restore: a clear error, nothing left behind.
 * - redis-server from Debian with a client mid-session.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries, readSingle } from '../../src/images/typed.js';
import { lockTableName, staleLocks, unlockRun } from '../../src/net/network_lock.js';
import { cleanupPrograms, killAllPrograms, signalProgram, startProgram, taskState } from '../support/programs.js';
import { killRestored, pidTaken, seedsAlive } from '../support/restore.js';
import { criuTsAsync, waitOutput, waitUntil } from '../support/async.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-tcp-'));
const restored = new Set<number>();
const runIds = new Set<string>();
const sockets: Socket[] = [];
const servers: Server[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
  killRestored(restored);
  killAllPrograms();
  // A test that failed half-way may leave its lock: drop it, then the check below still sees
  // whether a passing path left one.
  for (const id of runIds) unlockRun(id);
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

let serial = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Byte i of every test stream. */
const patternByte = (i: number) => (i * 7 + 3) & 0xff;

/**
 * A client of the echo server in the tree: sends the numbered stream (at most 4 MiB ahead of what
 * came back) and checks each byte echoed.
 */
class StreamClient {
  sent = 0;
  received = 0;
  problem: string | undefined;
  sending = true;
  readonly socket: Socket;

  constructor(host: string, port: number) {
    this.socket = netConnect({ host, port });
    sockets.push(this.socket);
    this.socket.on('data', (d: Buffer) => {
      for (const byte of d) {
        if (this.problem === undefined && byte !== patternByte(this.received)) this.problem = `byte ${this.received} is ${byte}, not ${patternByte(this.received)}`;
        this.received++;
      }
      this.pump();
    });
    this.socket.on('error', (err) => (this.problem ??= `socket error: ${err.message}`));
    this.socket.on('close', () => (this.problem ??= 'closed'));
    this.socket.on('drain', () => this.pump());
    this.socket.on('connect', () => this.pump());
  }

  pump(): void {
    while (this.sending && this.sent - this.received < 4 << 20 && this.socket.writableLength < 1 << 16) {
      const chunk = Buffer.alloc(16384);
      for (let k = 0; k < chunk.length; k++) chunk[k] = patternByte(this.sent + k);
      this.sent += chunk.length;
      if (!this.socket.write(chunk)) break;
    }
  }
}

/** A redis client speaking RESP over one connection; `call` resolves with the raw reply. */
class RespClient {
  readonly socket: Socket;
  readonly connected: Promise<void>;
  problem: string | undefined;
  #buffer = '';
  #waiting: Array<(reply: string) => void> = [];

  constructor(port: number) {
    this.socket = netConnect({ host: '127.0.0.1', port });
    sockets.push(this.socket);
    this.connected = new Promise((r) => this.socket.on('connect', () => r()));
    this.socket.on('error', (err) => (this.problem ??= `socket error: ${err.message}`));
    this.socket.on('close', () => (this.problem ??= 'closed'));
    this.socket.on('data', (d: Buffer) => {
      this.#buffer += d.toString('latin1');
      for (;;) {
        const end = replyEnd(this.#buffer);
        if (end < 0 || this.#waiting.length === 0) break;
        const reply = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end);
        this.#waiting.shift()!(reply);
      }
    });
  }

  call(...args: string[]): Promise<string> {
    this.socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${args.join(' ')} in 30 s`)), 30_000);
      this.#waiting.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }
}

/** Where the first complete RESP reply in `s` ends (simple, integer, bulk and array replies), or -1. */
function replyEnd(s: string, at = 0): number {
  const line = s.indexOf('\r\n', at);
  if (line < 0) return -1;
  const kind = s[at];
  if (kind === '+' || kind === '-' || kind === ':') return line + 2;
  const n = Number(s.slice(at + 1, line));
  if (kind === '$') return n < 0 ? line + 2 : s.length >= line + 2 + n + 2 ? line + 2 + n + 2 : -1;
  if (kind === '*') {
    let pos = line + 2;
    for (let i = 0; i < n; i++) {
      pos = replyEnd(s, pos);
      if (pos < 0) return -1;
    }
    return pos;
  }
  return -1;
}

function tcpStreams(dir: string): Array<{ ino: number; inq: number; outq: number }> {
  const images = ImageDir.open(dir);
  return readEntries(images, 'files')
    .flatMap((f) => (f.isk !== undefined && f.isk.state === 1 ? [f.isk.ino] : []))
    .map((ino) => {
      const s = readEntries(images, 'tcpStream', ino)[0]!;
      return { ino, inq: s.inq_len, outq: s.outq_len };
    });
}

function runIdOf(dir: string): string {
  const id = readSingle(ImageDir.open(dir), 'inventory').dump_criu_run_id!;
  runIds.add(id);
  return id;
}

describe('established TCP connections (--tcp-established)', () => {
  it('a server in the tree keeps its three clients: no byte lost or doubled, queues full both ways at the dump', async () => {
    const port = await freePort('127.0.0.1');
    const server = startProgram('tcp_echo_server', { args: ['4', String(port), '3'] });
    const clients = [0, 1, 2].map(() => new StreamClient('127.0.0.1', port));
    await waitOutput(server, /accepted 3/);
    await waitUntil(() => clients.every((c) => c.received > 100_000), 'traffic on every connection');
    // The clients stop reading: the server's echoes pile up in its send queue, and what the
    // clients still send waits in its receive queue.
    for (const c of clients) c.socket.pause();
    await sleep(300);

    const dir = join(scratch, `server-${++serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);
    const runId = runIdOf(dir);
    const streams = tcpStreams(dir);
    expect(streams).toHaveLength(3);
    expect(streams.some((s) => s.outq > 0)).toBe(true);
    expect(streams.some((s) => s.inq > 0)).toBe(true);
    // Killed in repair mode: the clients saw nothing, and the lock waits for the restore.
    expect(staleLocks()).toContain(lockTableName(runId));
    await waitUntil(() => !pidTaken(server.pid), `PID ${server.pid} to be free`);
    for (const c of clients) c.socket.resume();
    expect(clients.map((c) => c.problem)).toEqual([undefined, undefined, undefined]);

    const restore = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
    expect(restore.stderr).toBe('');
    expect(restore.status).toBe(0);
    restored.add(server.pid);
    expect(staleLocks()).not.toContain(lockTableName(runId));

    const before = clients.map((c) => c.received);
    await waitUntil(() => clients.every((c, i) => c.received > before[i]! + 100_000), 'traffic after the restore');
    for (const c of clients) c.sending = false;
    await waitUntil(() => clients.every((c) => c.received === c.sent), 'every byte sent to come back');
    expect(clients.map((c) => c.problem)).toEqual([undefined, undefined, undefined]);
    signalProgram(server, 'SIGTERM');
    await waitOutput(server, /PASS echoed \d+ bytes/);
  });

  for (const family of ['4', '6'] as const) {
    it(`a client in the tree (IPv${family}) goes on with a server outside`, async () => {
      const host = family === '6' ? '::1' : '127.0.0.1';
      const echo = createServer((s) => {
        sockets.push(s);
        s.on('error', () => {});
        s.pipe(s);
      });
      servers.push(echo);
      await new Promise<void>((r) => echo.listen(0, host, r));
      const port = (echo.address() as AddressInfo).port;
      const client = startProgram('tcp_stream_client', { args: [family, String(port)] });
      await waitOutput(client, /connected/);
      await sleep(300);

      const dir = join(scratch, `client-${++serial}`);
      const dump = await criuTsAsync(['dump', '-t', String(client.pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
      expect(dump.stderr).toBe('');
      expect(dump.status).toBe(0);
      const runId = runIdOf(dir);
      expect(tcpStreams(dir)).toHaveLength(1);
      await waitUntil(() => !pidTaken(client.pid), `PID ${client.pid} to be free`);
      await sleep(200); // the server's side keeps trying meanwhile; its packets are dropped

      const restore = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
      expect(restore.stderr).toBe('');
      expect(restore.status).toBe(0);
      restored.add(client.pid);
      expect(staleLocks()).not.toContain(lockTableName(runId));
      await sleep(500);
      signalProgram(client, 'SIGTERM');
      const m = await waitOutput(client, /(PASS|FAIL).*\n/, 30_000);
      expect(m[0]).toMatch(/^PASS sent (\d+) received \1\n/);
    });
  }

  it('--leave-running: the connection leaves repair mode and the lock goes; the tree carries on', async () => {
    const port = await freePort('127.0.0.1');
    const server = startProgram('tcp_echo_server', { args: ['4', String(port), '1'] });
    const client = new StreamClient('127.0.0.1', port);
    await waitOutput(server, /accepted 1/);
    await waitUntil(() => client.received > 100_000, 'traffic');
    const dir = join(scratch, `running-${++serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established', '-R', '-o', 'dump.log']);
    expect(dump.status).toBe(0);
    expect(staleLocks()).not.toContain(lockTableName(runIdOf(dir)));
    const seen = client.received;
    await waitUntil(() => client.received > seen + 100_000, 'traffic after the dump');
    client.sending = false;
    await waitUntil(() => client.received === client.sent, 'every byte back');
    expect(client.problem).toBeUndefined();
    signalProgram(server, 'SIGTERM');
    await waitOutput(server, /PASS echoed/);
  });

  it('without nft the dump fails before anything is frozen (NETLOCK_UNAVAILABLE), and the tree runs on untouched', async () => {
    const port = await freePort('127.0.0.1');
    const server = startProgram('tcp_echo_server', { args: ['4', String(port), '1'] });
    const client = new StreamClient('127.0.0.1', port);
    await waitOutput(server, /accepted 1/);
    const bin = join(scratch, `no-nft-${++serial}`);
    mkdirSync(bin);
    for (const tool of ['sh', 'nsenter']) if (existsSync(`/usr/bin/${tool}`)) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    const dir = join(scratch, `no-nft-images-${serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established'], { ...process.env, PATH: bin });
    expect(dump.status).not.toBe(0);
    expect(dump.stderr).toMatch(/cannot run nft: .*nftables.*\[NETLOCK_UNAVAILABLE\]/);
    expect(existsSync(join(dir, 'inventory.img'))).toBe(false);
    expect(readFileSync(`/proc/${server.pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0\n/);
    expect(taskState(server.pid)).not.toBe('t');
    const seen = client.received;
    await waitUntil(() => client.received > seen + 100_000, 'traffic after the failed dump');
    client.sending = false;
    await waitUntil(() => client.received === client.sent, 'every byte back');
    expect(client.problem).toBeUndefined();
  });

  it('a listener whose port is taken at restore: a clear error, nothing left behind', async () => {
    const port = await freePort('127.0.0.1');
    const server = startProgram('tcp_echo_server', { args: ['4', String(port), '1'] });
    const client = new StreamClient('127.0.0.1', port);
    await waitOutput(server, /accepted 1/);
    const dir = join(scratch, `taken-${++serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
    expect(dump.status).toBe(0);
    const runId = runIdOf(dir);
    await waitUntil(() => !pidTaken(server.pid), `PID ${server.pid} to be free`);
    const squatter = createServer();
    servers.push(squatter);
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));

    const restore = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established']);
    expect(restore.status).not.toBe(0);
    expect(restore.stderr).toMatch(new RegExp(`TCP socket 127\\.0\\.0\\.1:${port} \\(file \\d+\\).*EADDRINUSE`));
    expect(pidTaken(server.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
    // The connection is still locked (its peer still waits), so a second try, once the port is
    // free again, brings it back.
    expect(staleLocks()).toContain(lockTableName(runId));
    await new Promise<void>((r) => squatter.close(() => r()));
    const again = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    restored.add(server.pid);
    const seen = client.received;
    await waitUntil(() => client.received > seen + 100_000, 'traffic after the second restore');
    expect(client.problem).toBeUndefined();
  });

  it('restore refuses a connection without --tcp-established, and --tcp-close brings it back closed', async () => {
    const port = await freePort('127.0.0.1');
    const server = startProgram('tcp_echo_server', { args: ['4', String(port), '1'] });
    const client = new StreamClient('127.0.0.1', port);
    await waitOutput(server, /accepted 1/);
    const dir = join(scratch, `close-${++serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
    expect(dump.status).toBe(0);
    runIdOf(dir);
    await waitUntil(() => !pidTaken(server.pid), `PID ${server.pid} to be free`);
    const refused = await criuTsAsync(['restore', '-D', dir, '-d']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/is a connected TCP socket: restoring it needs --tcp-established \(or --tcp-close\) \[RESTORE_UNSUPPORTED\]/);
    expect(pidTaken(server.pid)).toBe(false);

    const closed = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-close', '-o', 'restore.log']);
    expect(closed.stderr).toBe('');
    expect(closed.status).toBe(0);
    restored.add(server.pid);
    // The server finds its connection gone (it reports it and exits); the client, once its next
    // retransmission gets through the dropped lock, is reset.
    await waitOutput(server, /FAIL connection 0/, 10_000);
    await waitUntil(() => client.problem !== undefined, 'the client to see its connection end', 30_000);
    expect(client.problem).toMatch(/ECONNRESET|closed/);
  });

  it('a connection still in the accept queue stops the dump, unless --skip-in-flight lets it go', async () => {
    const port = await freePort('127.0.0.1');
    const server = startProgram('tcp_echo_server', { args: ['4', String(port), '1'] });
    const client = new StreamClient('127.0.0.1', port);
    await waitOutput(server, /accepted 1/);
    const waiting = netConnect({ host: '127.0.0.1', port }); // never accepted
    sockets.push(waiting);
    let waitingError = '';
    waiting.on('error', (err: NodeJS.ErrnoException) => (waitingError = err.code ?? err.message));
    await new Promise<void>((r) => waiting.on('connect', () => r()));
    const dir = join(scratch, `inflight-${++serial}`);
    const refused = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/has 1 connection\(s\) not accepted yet, which would be lost \(--skip-in-flight lets them go\) \[FD_UNSUPPORTED\]/);
    expect(taskState(server.pid)).toMatch(/[SR]/);

    const dump = await criuTsAsync(['dump', '-t', String(server.pid), '-D', dir, '--tcp-established', '--skip-in-flight', '-o', 'dump.log']);
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);
    runIdOf(dir);
    await waitUntil(() => !pidTaken(server.pid), `PID ${server.pid} to be free`);
    const restore = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
    expect(restore.stderr).toBe('');
    expect(restore.status).toBe(0);
    restored.add(server.pid);
    const seen = client.received;
    await waitUntil(() => client.received > seen + 100_000, 'the accepted client carries on');
    expect(client.problem).toBeUndefined();
    // The one let go was reset when the dumped listener went away.
    await waitUntil(() => waitingError !== '', 'the connection let go to be reset');
    expect(waitingError).toBe('ECONNRESET');
  });

  const redis = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  it.skipIf(redis === '')('redis-server (Debian\'s) keeps its client mid-session, a command sent while it was dumped answered after the restore', async () => {
    const port = await freePort('127.0.0.1');
    const out = join(scratch, `redis-${++serial}.out`);
    const started = spawnSync('sh', ['-c', `setsid ${redis} --port ${port} --bind 127.0.0.1 --save '' --appendonly no --dir ${scratch} </dev/null >${out} 2>&1 & echo $!`], { encoding: 'utf8' });
    const pid = Number(started.stdout.trim());
    restored.add(pid);
    await waitUntil(() => existsSync(out) && /Ready to accept connections/.test(readFileSync(out, 'utf8')), 'redis-server to be ready', 10_000);
    const client = new RespClient(port);
    await client.connected;
    expect(await client.call('SET', 'greeting', 'before the dump')).toBe('+OK\r\n');
    expect(await client.call('RPUSH', 'list', 'a', 'b', 'c')).toBe(':3\r\n');

    const dir = join(scratch, `redis-${serial}`);
    const dump = await criuTsAsync(['dump', '-t', String(pid), '-D', dir, '--tcp-established', '-o', 'dump.log']);
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);
    runIdOf(dir);
    await waitUntil(() => !pidTaken(pid), `PID ${pid} to be free`);
    // Sent while redis is gone: the packets are dropped by the lock and sent again later.
    const pending = client.call('GET', 'greeting');
    await sleep(200);

    const restore = await criuTsAsync(['restore', '-D', dir, '-d', '--tcp-established', '-o', 'restore.log']);
    expect(restore.stderr).toBe('');
    expect(restore.status).toBe(0);
    expect(await pending).toBe('$15\r\nbefore the dump\r\n');
    expect(await client.call('LRANGE', 'list', '0', '-1')).toBe('*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
    expect(await client.call('INCR', 'counter')).toBe(':1\r\n');
    expect(client.problem).toBeUndefined();
  });

  it('leaves none of its nftables tables behind', () => {
    const left = staleLocks();
    for (const id of runIds) expect(left).not.toContain(lockTableName(id));
  });
});

afterAll(() => {
});

/**
 * criu-ts dump of sockets, end to end: a tree holding sockets of every kind the dump handles is
 * dumped with --leave-running; crit-ts and Debian's crit decode files.img, fdinfo and sk-queues
 * the same way and say what the program set up; the program then reads all its queued data back.
 * A Unix peer outside the tree makes the dump fail cleanly unless --ext-unix-sk allows it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AF, SOCK, accept, bind, close, listen, recvmsg, socket } from '../../src/sys/index.js';
import { CONFORMANCE_DIR, CRIT_TS, CRIU_TS } from '../support/paths.js';
import { isDead, killAllPrograms, signalProgram, startProgram, waitFor, workDir } from '../support/programs.js';
import { criuTsOk } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-dump-sockets-'));
const ours: number[] = [];
afterAll(() => {
  killAllPrograms();
  for (const fd of ours) close(fd);
  rmSync(scratch, { recursive: true, force: true });
});

function criuTs(args: string[]) {
  const res = spawnSync(process.execPath, [CRIU_TS, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: res.status, stderr: res.stderr };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** An image decoded (`--pretty`: names for enums, hex flags, dotted addresses) by crit-ts and Debian's crit 3.17. */
function decodeBoth(file: string): { ours: Json; debian: Json } {
  const mine = spawnSync(process.execPath, [CRIT_TS, 'decode', '--pretty', '-i', file], { encoding: 'utf8' });
  expect(mine.status, `crit-ts decode ${file}: ${mine.stderr}`).toBe(0);
  const theirs = spawnSync('crit', ['decode', '--pretty', '-i', file], { encoding: 'utf8' });
  expect(theirs.status, `crit decode ${file}: ${theirs.stderr}`).toBe(0);
  return { ours: JSON.parse(mine.stdout), debian: JSON.parse(theirs.stdout) };
}

function tracerOf(pid: number): number {
  return Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function inodeOf(pid: number, fd: number): number {
  return Number(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))![1]);
}

/** Fields of inet_sk_entry and ip_opts_entry that came after CRIU 3.17: Debian's crit drops them. */
const AFTER_317 = new Set(['tcp_opts', 'ttl']);

function without(o: Json, drop: Set<string>): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (!drop.has(k)) out[k] = v && typeof v === 'object' && !Array.isArray(v) ? without(v, drop) : v;
  return out;
}

describe('criu-ts dump of sockets', () => {
  it('writes what the program holds, both crits read it alike, and every queue stays in place (--leave-running)', () => {
    const dir = join(workDir(), 'e2e-sockets');
    mkdirSync(dir, { recursive: true });
    const target = startProgram('sockets_state', { args: [dir] });
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const abstract = target.waitOutput(/abstract (\S+)/)[1]!;
    const images = join(scratch, 'sockets');
    criuTsOk(['dump', '-t', String(target.pid), '-D', images, '-R', '-o', 'dump.log']);
    expect(tracerOf(target.pid)).toBe(0);

    const files = decodeBoth(join(images, 'files.img'));
    const byIno = new Map<number, Json>();
    for (const e of files.ours['entries'] as Json[]) {
      const sk = e['usk'] ?? e['isk'];
      if (sk !== undefined) byIno.set(sk['ino'], { ...sk, type_: e['type'] });
    }
    // Debian's crit reads the same, but for the fields it does not know.
    const debianSockets = (files.debian['entries'] as Json[]).filter((e) => e['usk'] ?? e['isk']);
    const ourSockets = (files.ours['entries'] as Json[]).filter((e) => e['usk'] ?? e['isk']);
    expect(debianSockets).toEqual(ourSockets.map((e) => without(e, AFTER_317)));
    expect(ourSockets).toHaveLength(17 + 6);

    const sk = (pid: number, fd: number) => byIno.get(inodeOf(pid, fd))!;
    expect(sk(target.pid, 3)).toMatchObject({ type_: 'UNIXSK', type: 'STREAM', state: 'ESTABLISHED', flags: '0x2', peer: inodeOf(target.pid, 4), name: '' });
    expect(sk(target.pid, 5)).toMatchObject({ type: 'STREAM', state: 'LISTEN', backlog: 5, name: 'listener.sock=00', name_dir: dir });
    expect(sk(target.pid, 6)).toMatchObject({ type: 'SEQPACKET', state: 'LISTEN', name: `=00${abstract}` });
    expect(sk(target.pid, 8)).toMatchObject({ type: 'DGRAM', state: 'ESTABLISHED', peer: inodeOf(target.pid, 7) });
    expect(sk(target.pid, 17)).toMatchObject({ type: 'DGRAM', state: 'CLOSE', opts: { so_passcred: true, so_mark: 7, so_priority: 3 } });
    expect(sk(target.pid, 18)).toMatchObject({ peer: inodeOf(child, 19) });
    expect(sk(child, 19)).toMatchObject({ peer: inodeOf(target.pid, 18) });
    expect(sk(target.pid, 22)).toMatchObject({ peer: inodeOf(target.pid, 5) });
    expect(sk(target.pid, 25)).toMatchObject({ deleted: true });
    expect(sk(target.pid, 15)).toMatchObject({
      type_: 'INETSK', family: 'INET', type: 'STREAM', proto: 'TCP', state: 'LISTEN', backlog: 4, src_addr: ['127.0.0.1'], dst_addr: ['0.0.0.0'],
      opts: { reuseaddr: true, so_sndbuf: 32768, so_rcvbuf: 131072 }, tcp_opts: { nodelay: true, keepidle: 600 },
    });
    expect(sk(target.pid, 12)).toMatchObject({ family: 'INET', type: 'DGRAM', proto: 'UDP', state: 'ESTABLISHED', dst_port: sk(target.pid, 11)['src_port'] });
    expect(sk(target.pid, 13)).toMatchObject({ family: 'INET6', proto: 'UDP', src_addr: ['::1'], v6only: true });
    expect(sk(target.pid, 16)).toMatchObject({ family: 'INET6', proto: 'TCP', state: 'LISTEN', src_addr: ['::'] });

    // fdinfo names each socket with its kind.
    const fdinfo = readdirSync(images).filter((n) => n.startsWith('fdinfo-'));
    const types = new Map<string, string>();
    for (const name of fdinfo) {
      const { ours: mine, debian } = decodeBoth(join(images, name));
      expect(debian).toEqual(mine);
      for (const e of mine['entries'] as Json[]) if (e['fd'] > 2 && e['fd'] < 100) types.set(`${e['fd']}`, e['type']);
    }
    expect(types.get('3')).toBe('UNIXSK');
    expect(types.get('15')).toBe('INETSK');

    // sk-queues: every queued message, by the socket it waits on, boundaries kept.
    const queues = decodeBoth(join(images, 'sk-queues.img'));
    expect(queues.debian).toEqual(queues.ours);
    const idOfIno = new Map<number, number>();
    for (const e of files.ours['entries'] as Json[]) if (e['usk']) idOfIno.set(e['usk']['ino'], e['id']);
    const queued = (pid: number, fd: number) =>
      (queues.ours['entries'] as Json[]).filter((e) => e['id_for'] === idOfIno.get(inodeOf(pid, fd))).map((e) => Buffer.from(e['extra'], 'base64').toString());
    expect(queued(target.pid, 4).join('')).toBe('hello from 3 and more');
    expect(queued(target.pid, 8)).toEqual(['dgram-1', 'dgram-two', 'dgram-3-is-longer-than-the-others']);
    expect(queued(target.pid, 10)).toEqual(['packet one', 'packet 2']);
    expect(queued(child, 19).join('')).toBe('to child');
    expect((queues.ours['entries'] as Json[]).every((e) => Buffer.from(e['extra'], 'base64').length === e['length'])).toBe(true);
    // The fields CRIU 4.2 writes for a queued packet.
    const criuQueue = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'python-state', 'decoded', 'sk-queues.img.json'), 'utf8')) as Json;
    expect(Object.keys(queues.ours['entries'][0]).sort()).toEqual(Object.keys(criuQueue['entries'][0]).sort());

    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it("matches CRIU 4.2's entries field for field for the sockets of its Python conformance workload", () => {
    // The socket part of test/fixtures/conformance/python-state/state.py (its established TCP
    // connection needs TCP repair, which is not dumped yet), started detached as the launcher does.
    const script = join(scratch, 'python-sockets.py');
    const ready = join(scratch, 'python-sockets.ready');
    writeFileSync(script, [
      'import os as _o; _o.closerange(3, 4096)',
      'import os, socket, signal, time',
      'a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)',
      'a.send(b"unix-queued")',
      'ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 0)); ls.listen(4)',
      `open(${JSON.stringify(ready)}, "w").close()`,
      'while True: time.sleep(0.1)',
    ].join('\n'));
    const started = spawnSync('sh', ['-c', `setsid python3 ${script} </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
    const pid = Number(started.stdout.trim());
    try {
      waitFor(() => existsSync(ready), 'the Python workload to be ready', 10_000);
      const images = join(scratch, 'python-sockets');
      criuTsOk(['dump', '-t', String(pid), '-D', images, '-R']);
      const criu = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'python-state', 'decoded', 'files.img.json'), 'utf8')) as Json;
      const criuQueues = JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'python-state', 'decoded', 'sk-queues.img.json'), 'utf8')) as Json;
      const ours = decodeBoth(join(images, 'files.img')).ours['entries'] as Json[];
      const ourQueues = decodeBoth(join(images, 'sk-queues.img')).ours['entries'] as Json[];
      const usk = (entries: Json[], sender: boolean) => entries.find((e) => e['usk'] && (e['usk']['backlog'] !== 0) === sender)!;
      // Inode numbers, ids and the listener's port differ by nature; everything else is the same.
      const same = (e: Json): Json => {
        const sk: Json = { ...(e['usk'] ?? e['isk']) };
        for (const key of ['id', 'ino', 'peer', 'src_port']) delete sk[key];
        return { type: e['type'], ...sk };
      };
      for (const sender of [true, false]) expect(same(usk(ours, sender))).toEqual(same(usk(criu['entries'], sender)));
      const listener = (entries: Json[]) => entries.find((e) => e['isk']?.['state'] === 'LISTEN')!;
      expect(same(listener(ours))).toEqual(same(listener(criu['entries'])));
      // The queued bytes wait on the receiving end, as in CRIU's image.
      expect(ourQueues.map(({ id_for, ...rest }) => ({ ...rest, on: id_for === usk(ours, false)['id'] }))).toEqual(
        (criuQueues['entries'] as Json[]).map(({ id_for, ...rest }) => ({ ...rest, on: id_for === usk(criu['entries'], false)['id'] })),
      );
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('fails cleanly on a Unix peer outside the tree: nothing lands, the task runs on unharmed', () => {
    const path = join(workDir(), 'e2e-outside.sock');
    const listener = socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC);
    ours.push(listener);
    bind(listener, { family: 'unix', path });
    listen(listener, { backlog: 1 });
    const target = startProgram('unix_outside', { args: ['stream', path] });
    const conn = accept(listener);
    ours.push(conn);
    const images = join(scratch, 'outside');
    const out = criuTs(['dump', '-t', String(target.pid), '-D', images]);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`task ${target.pid}, fd 3: Unix socket socket:\\[${inodeOf(target.pid, 3)}\\] is connected to socket:\\[\\d+\\] \\(bound to ${path}\\), which no task of the dumped tree holds.*\\[FD_UNSUPPORTED\\]`));
    expect(isDead(target.pid)).toBe(false);
    expect(tracerOf(target.pid)).toBe(0);
    expect(readdirSync(images)).toEqual([]);
    expect(readFileSync(`/proc/${target.pid}/maps`, 'utf8')).not.toMatch(/ rwxs /);
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, recvmsg(conn, buf).bytes).toString()).toBe('still here');
  });

  it('with --ext-unix-sk, records a named datagram peer outside the tree as CRIU does, and still refuses a stream one', () => {
    const path = join(workDir(), 'e2e-outside-dgram.sock');
    const peer = socket(AF.UNIX, SOCK.DGRAM | SOCK.CLOEXEC);
    ours.push(peer);
    bind(peer, { family: 'unix', path });
    const target = startProgram('unix_outside', { args: ['dgram', path] });
    const images = join(scratch, 'ext-unix-sk');
    criuTsOk(['dump', '-t', String(target.pid), '-D', images, '-R', '--ext-unix-sk']);
    const files = decodeBoth(join(images, 'files.img'));
    const peerIno = inodeOf(process.pid, peer);
    for (const decoded of [files.ours, files.debian]) {
      const entries = decoded['entries'] as Json[];
      const own = entries.find((e) => e['usk']?.['ino'] === inodeOf(target.pid, 3))!;
      expect(own['usk']).toMatchObject({ type: 'DGRAM', state: 'ESTABLISHED', peer: peerIno, uflags: '0x0' });
      const ext = entries.find((e) => e['usk']?.['ino'] === peerIno)!;
      expect(ext['usk']).toMatchObject({ type: 'DGRAM', state: 'LISTEN', uflags: '0x1', flags: '0x0', peer: 0, backlog: 0, name: `${path}=00` });
      expect(ext['usk']['ns_id']).toBeUndefined();
    }
    signalProgram(target, 'SIGTERM');
    target.waitOutput(/PASS/);
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, recvmsg(peer, buf).bytes).toString()).toBe('still here');

    // A stream connection cannot be cut in half, flag or not.
    const listenPath = join(workDir(), 'e2e-outside-stream-ext.sock');
    const listener = socket(AF.UNIX, SOCK.STREAM | SOCK.CLOEXEC);
    ours.push(listener);
    bind(listener, { family: 'unix', path: listenPath });
    listen(listener, { backlog: 1 });
    const streamTarget = startProgram('unix_outside', { args: ['stream', listenPath] });
    ours.push(accept(listener));
    const refused = criuTs(['dump', '-t', String(streamTarget.pid), '-D', join(scratch, 'ext-stream'), '-R', '--ext-unix-sk']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/half of a stream connection cannot be dumped, even with --ext-unix-sk.*\[FD_UNSUPPORTED\]/);
    expect(readdirSync(join(scratch, 'ext-stream'))).toEqual([]);
    signalProgram(streamTarget, 'SIGTERM');
    streamTarget.waitOutput(/PASS/);
  });
});

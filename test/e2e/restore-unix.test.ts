/**
 * Restore of Unix sockets, end to end: unix_state.c (pairs of every type, a listener with an
 * accepted and a pending connection, names path, relative, abstract and deleted, queued data on
 * each, shutdown state, options, a pair shared with a child) is dumped, killed and restored, and
 * checks itself (every queued byte exactly once and in order, each socket still talking to its
 * peer, names, options): PASS. A socket whose path is now taken by a regular file fails the
 * restore cleanly; a datagram socket dumped with --ext-unix-sk reconnects to its peer outside the
 * tree only with --ext-unix-sk; and the socketpair CRIU 4.2 dumped in python-state is made again
 * from CRIU's own images, its queued bytes waiting on the right end.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries } from '../../src/images/typed.js';
import type { RestorePlan } from '../../src/restore/plan.js';
import { restoreUnixSockets } from '../../src/restore/files/unix_sk.js';
import { AF, MSG, SOCK, bind, close, recvmsg, sendmsg, socket } from '../../src/sys/index.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { cleanupPrograms, killAllPrograms, startProgram, waitFor, workDir } from '../support/programs.js';
import { criuTs, criuTsOk, fdTable, killRestored, pidTaken, seedsAlive, waitGone } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-unix-'));
const restored = new Set<number>();
const ours: number[] = [];
afterEach(() => {
  killRestored(restored);
  killAllPrograms();
  for (const fd of ours.splice(0)) close(fd);
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

/** The fd table with socket inodes left out (sockets made again get new ones). */
function fdShape(pid: number) {
  return fdTable(pid).map((f) => ({ ...f, target: f.target.replace(/^socket:\[\d+\]$/, 'socket') }));
}

/** Starts unix_state in a fresh directory, dumps it (killed), waits for its PIDs to be free. */
function dumpUnixState(name: string) {
  const dir = join(workDir(), name);
  mkdirSync(dir, { recursive: true });
  const target = startProgram('unix_state', { args: [dir] });
  const child = Number(target.waitOutput(/child (\d+)/)[1]);
  // The child closes fds 3-63 but 19 as it starts, maybe after the parent printed its PID.
  waitFor(() => fdTable(child).every((f) => f.fd < 3 || f.fd === 19 || f.fd >= 64), `child ${child} to close fds 3-63 but 19`);
  const fds = [fdShape(target.pid), fdShape(child)];
  const images = join(scratch, name);
  criuTsOk(['dump', '-t', String(target.pid), '-D', images, '-o', 'dump.log']);
  waitGone(target.pid);
  waitGone(child);
  return { dir, target, child, fds, images };
}

describe('restore of Unix sockets', () => {
  it('brings back pairs, listeners, accepted and pending connections, names, queues, shutdown and options; the program checks them: PASS', () => {
    const { target, child, fds, images, dir } = dumpUnixState('unix-state');
    // The socket files of the dead program are still there: stale, and removed by the restore.
    expect(existsSync(join(dir, 'listener.sock'))).toBe(true);
    criuTsOk(['restore', '-D', images, '-d', '-o', 'restore.log']);
    restored.add(target.pid);
    restored.add(child);
    expect([fdShape(target.pid), fdShape(child)]).toEqual(fds);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict', 10_000);
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('fails cleanly when a bound path is now a regular file: the task, fd and cause named, nothing left behind', () => {
    const { target, child, images, dir } = dumpUnixState('unix-taken');
    const path = join(dir, 'dgram.sock');
    unlinkSync(path);
    writeFileSync(path, 'not a socket');
    const out = criuTs(['restore', '-D', images, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`Task ${target.pid}, fd 17: Unix datagram socket socket:[`);
    expect(out.stderr).toMatch(/\(dgram\.sock in .*\): cannot bind it to dgram\.sock in .*: the path is taken by a regular file \(only a stale socket file is removed\) \[RESTORE_FAILED\]/);
    expect(readFileSync(path, 'utf8')).toBe('not a socket');
    expect(pidTaken(target.pid)).toBe(false);
    expect(pidTaken(child)).toBe(false);
    expect(seedsAlive()).toEqual([]);
    // The listener bound before it was removed again.
    expect(existsSync(join(dir, 'listener.sock'))).toBe(false);
  });

  it('reconnects a datagram socket to its peer outside the tree with --ext-unix-sk, and refuses without it', () => {
    const path = join(workDir(), 'ext-peer.sock');
    const peer = socket(AF.UNIX, SOCK.DGRAM | SOCK.CLOEXEC);
    ours.push(peer);
    bind(peer, { family: 'unix', path });
    const target = startProgram('unix_outside', { args: ['dgram', path] });
    const images = join(scratch, 'ext-unix-sk');
    criuTsOk(['dump', '-t', String(target.pid), '-D', images, '--ext-unix-sk']);
    waitGone(target.pid);

    const refused = criuTs(['restore', '-D', images, '-d']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`Task ${target.pid}, fd 3: Unix datagram socket socket:\\[\\d+\\]: its peer socket:\\[\\d+\\] \\(${path.replace(/[.]/g, '\\.')}\\) is outside the tree: restore with --ext-unix-sk .*\\[RESTORE_UNSUPPORTED\\]`));
    expect(pidTaken(target.pid)).toBe(false);

    criuTsOk(['restore', '-D', images, '-d', '--ext-unix-sk']);
    restored.add(target.pid);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict');
    expect(target.out()).toMatch(/PASS/);
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, recvmsg(peer, buf, { flags: MSG.DONTWAIT }).bytes).toString()).toBe('still here');
  });

  it("makes the socketpair of CRIU 4.2's python-state images again, its queued bytes on the receiving end", () => {
    const images = ImageDir.open(join(CONFORMANCE_DIR, 'python-state', 'images'));
    const files = new Map(readEntries(images, 'files').map((f) => [f.id, f]));
    const plan = { images, files, tasks: [] } as unknown as RestorePlan;
    const opened: number[] = [];
    try {
      const fds = restoreUnixSockets(plan, opened, { extUnixSk: false });
      expect([...fds.keys()].sort()).toEqual([14, 15]);
      // id 14 (a) sent "unix-queued" before the dump; it waits on id 15 (b).
      const buf = Buffer.alloc(64);
      expect(buf.subarray(0, recvmsg(fds.get(15)!, buf, { flags: MSG.DONTWAIT }).bytes).toString()).toBe('unix-queued');
      expect(() => recvmsg(fds.get(15)!, buf, { flags: MSG.DONTWAIT })).toThrow(/EAGAIN/);
      expect(() => recvmsg(fds.get(14)!, buf, { flags: MSG.DONTWAIT })).toThrow(/EAGAIN/);
      // Still a pair, both ways, at the buffer sizes CRIU recorded.
      sendmsg(fds.get(15)!, { data: Buffer.from('pong') });
      expect(buf.subarray(0, recvmsg(fds.get(14)!, buf, { flags: MSG.DONTWAIT }).bytes).toString()).toBe('pong');
    } finally {
      for (const fd of opened) close(fd);
    }
  });
});

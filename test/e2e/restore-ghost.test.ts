/**
 * Restore of files deleted while open (ghost files): ghost_state.c (a small file open twice, a
 * sparse 1 MiB file write-only, a removed directory) is dumped, killed and restored: its fds
 * point at the same names, deleted, at their flags and offsets, the two opens of the small file
 * share one inode, nothing of the ghosts is left in the directory, and the program finds every
 * byte (PASS). A ghost image cut short is IMG_TRUNCATED naming the task, the fd and the file,
 * and leaves nothing behind.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cleanupPrograms, killAllPrograms, startProgram, waitFor, workDir } from '../support/programs.js';
import { criuTs, criuTsOk, fdTable, killRestored, pidTaken, seedsAlive, waitGone } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-ghost-'));
const restored = new Set<number>();
afterEach(() => {
  killRestored(restored);
  killAllPrograms();
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

function dumpGhosts(name: string) {
  const dir = mkdtempSync(join(workDir(), `${name}-`));
  const target = startProgram('ghost_state', { args: [dir] });
  target.waitOutput(/^ready$/m);
  const fds = fdTable(target.pid);
  const images = join(scratch, name);
  criuTsOk(['dump', '-t', String(target.pid), '-D', images]);
  waitGone(target.pid);
  return { dir, target, fds, images };
}

describe('restore of ghost files', () => {
  it('brings back deleted files with their contents at their names, flags and offsets; the program checks every byte: PASS', () => {
    const { dir, target, fds, images } = dumpGhosts('ghost');
    expect(fds.filter((f) => f.fd >= 3 && f.fd <= 6).map((f) => f.target)).toEqual(['small', 'small', 'big', 'gone-dir'].map((n) => `${join(dir, n)} (deleted)`));
    criuTsOk(['restore', '-D', images, '-d']);
    restored.add(target.pid);
    expect(fdTable(target.pid)).toEqual(fds);
    const ino = (fd: number) => statSync(`/proc/${target.pid}/fd/${fd}`).ino;
    expect(ino(3)).toBe(ino(4));
    expect(statSync(`/proc/${target.pid}/fd/5`)).toMatchObject({ size: 1 << 20, mode: 0o100600 });
    expect(statSync(`/proc/${target.pid}/fd/3`).mode).toBe(0o100640);
    expect(readdirSync(dir)).toEqual([]);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict');
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('refuses a ghost image cut short (IMG_TRUNCATED names the task, fd and file) and leaves nothing behind', () => {
    const { dir, target, images } = dumpGhosts('ghost-cut');
    const image = join(images, 'ghost-file-1.img');
    const bytes = readFileSync(image);
    writeFileSync(image, bytes.subarray(0, bytes.length - 10));
    const out = criuTs(['restore', '-D', images, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`ghost-file-1.img: Task ${target.pid}, fd 3 (${join(dir, 'small')}, deleted while open): the image holds 90 bytes of it, the file had 100 [IMG_TRUNCATED]`);
    expect(readdirSync(dir)).toEqual([]);
    expect(pidTaken(target.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);

    // A chunk cut short is caught by the image reader, with the same naming.
    writeFileSync(image, bytes);
    const big = join(images, 'ghost-file-2.img');
    const bigBytes = readFileSync(big);
    writeFileSync(big, bigBytes.subarray(0, bigBytes.length - 100));
    const chunk = criuTs(['restore', '-D', images, '-d']);
    expect(chunk.status).toBe(1);
    expect(chunk.stderr).toMatch(new RegExp(`ghost-file-2\\.img.*: Task ${target.pid}, fd 5 \\(${join(dir, 'big')}, deleted while open\\): its contents cannot be read: .*\\[IMG_TRUNCATED\\]`));
    expect(readdirSync(dir)).toEqual([]);
    expect(pidTaken(target.pid)).toBe(false);
  });
});

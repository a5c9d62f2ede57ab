// The fd-kind dump tests: dump a running program with --leave-running (in this process), read the
// images back, and have both crits decode every image (ours and Debian's 3.17).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpTree } from '../../src/dump/dump.js';
import type { FdinfoEntry, FileEntry } from '../../src/images/generated/types.js';
import { ImageDir } from '../../src/images/image_dir.js';
import { IMAGE_FILES, imageFileKind } from '../../src/images/image_files.js';
import { readEntries, readSingle } from '../../src/images/typed.js';
import { CRIT_TS } from './paths.js';
import { signalProgram, waitFor, type Target } from './programs.js';

/** A dump of a running tree. */
export interface FdDump {
  dir: string;
  images: ImageDir;
  /** The fdinfo entries of task `pid`, by fd. */
  fds(pid: number): Map<number, FdinfoEntry>;
  /** The files.img entry of fd `fd` of task `pid`. */
  file(pid: number, fd: number): FileEntry;
  /** files.img entries by id. */
  byId(id: number): FileEntry;
}

const made: string[] = [];

/** Removes the images directories dumpRunning made; for afterAll. */
export function removeDumps(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Dumps the tree of `pid` into a new temp dir and leaves it running. */
export async function dumpRunning(pid: number, opts: { shellJob?: boolean } = {}): Promise<FdDump> {
  const dir = mkdtempSync(join(tmpdir(), 'criu-ts-fdkind-'));
  made.push(dir);
  await dumpTree(pid, { imagesDir: dir, after: 'leave-running', ...opts });
  const images = ImageDir.open(dir);
  const files = readEntries(images, 'files');
  const fds = (p: number) => {
    const ids = readSingle(images, 'ids', p);
    return new Map(readEntries(images, 'fdinfo', ids.files_id).map((e) => [e.fd, e]));
  };
  const byId = (id: number) => {
    const found = files.find((f) => f.id === id);
    if (!found) throw new Error(`no file ${id} in files.img`);
    return found;
  };
  return {
    dir,
    images,
    fds,
    byId,
    file: (p, fd) => {
      const e = fds(p).get(fd);
      if (!e) throw new Error(`no fd ${fd} of task ${p} in the images`);
      return byId(e.id);
    },
  };
}

/**
 * Decodes the images of `dir` whose names match `only` (all of them when absent) with crit-ts and
 * with Debian's crit (both must succeed); returns what Debian's crit says of each, by file name.
 */
export function decodeWithBothCrits(dir: string, only?: RegExp): Map<string, { entries: Array<Record<string, unknown>> }> {
  const out = new Map<string, { entries: Array<Record<string, unknown>> }>();
  for (const name of readdirSync(dir)) {
    const kind = imageFileKind(name);
    if (!kind || IMAGE_FILES[kind.key].magic === 'RAW' || (only && !only.test(name))) continue;
    const file = join(dir, name);
    const ours = spawnSync(process.execPath, [CRIT_TS, 'decode', '-i', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (ours.status !== 0) throw new Error(`crit-ts decode ${name}: ${ours.stderr}`);
    const theirs = spawnSync('crit', ['decode', '-i', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (theirs.status !== 0) throw new Error(`crit decode ${name}: ${theirs.stderr}`);
    out.set(name, JSON.parse(theirs.stdout) as { entries: Array<Record<string, unknown>> });
  }
  return out;
}

/** The text of /proc/PID/fdinfo/FD. */
export function fdinfoText(pid: number, fd: number): string {
  return readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
}

/** The kernel's dev_t (major << 20 | minor) of a stat() device number. */
export function kdev(dev: bigint): number {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return Number((major << 20n) | minor);
}

/**
 * Waits until task `pid` sleeps in pause() again. A program that waits with
 * `while (!terminated) pause();` misses a SIGTERM that lands while an interrupted pause() is being
 * restarted (after a dump let it go): the handler runs before the restarted call, which then sleeps.
 */
export function waitPaused(pid: number): void {
  waitFor(() => readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('pause'), `task ${pid} to sleep in pause()`);
}

/** Sends SIGTERM once the program sleeps in pause() again; it checks its own state and says PASS. */
export function expectPass(target: Target): void {
  waitPaused(target.pid);
  signalProgram(target, 'SIGTERM');
  target.waitOutput(/PASS/);
}

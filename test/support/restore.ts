// Helpers of the restore tests: running the CLI, waiting for PIDs to be free, and the views of a
// task the tests compare before a dump and after a restore (its maps, its fd table with positions
// and flags), and the image's own view of its memory areas.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries, readSingle } from '../../src/images/typed.js';
import { CRIU_TS } from './paths.js';
import { waitFor } from './programs.js';
import { expect } from 'vitest';

export function criuTs(args: string[], timeout = 120_000): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [CRIU_TS, ...args], { encoding: 'utf8', timeout });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Waits until /proc/PID is gone (a zombie of PID 1 takes it a second or two to go). */
export function waitGone(pid: number, ms = 15_000): void {
  waitFor(() => !existsSync(`/proc/${pid}`), `PID ${pid} to be free`, ms);
}

/** True when /proc/PID exists. */
export function pidTaken(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/**
 * Restore seeds (`sleep 1000000`) that are this test's or nobody's: descendants of this process, or
 * orphans adopted by PID 1 (what a restore that failed to clean up leaves). None may be left. The
 * seeds of restores that other test files run at the same time (under their own worker) are not
 * counted.
 */
export function seedsAlive(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') !== 'sleep\x001000000\x00') continue;
      const parent = statOf(Number(name)).ppid;
      if (parent === 1 || descendsFromUs(parent)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function descendsFromUs(pid: number): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === process.pid) return true;
    p = statOf(p).ppid;
  }
  return false;
}

/** /proc/PID/maps, one line per area, as the kernel prints it. */
export function mapsLines(pid: number): string[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n');
}

/** One area: its range, permissions and what it maps ([vvar] and [vvar_vclock] merged, as images have them). */
export interface Area {
  range: string;
  perms: string;
  name: string;
}

/** /proc/PID/maps as areas, the vDSO data pages merged into one. */
export function mapsAreas(pid: number): Area[] {
  const out: Area[] = [];
  for (const line of mapsLines(pid)) {
    const [range, perms, offset, , , ...rest] = line.split(/\s+/);
    const name = rest.join(' ');
    const [start, end] = range!.split('-');
    const prev = out[out.length - 1];
    if (name === '[vvar_vclock]' && prev?.name === '[vvar]' && prev.range.endsWith(`-${start}`)) {
      prev.range = `${prev.range.split('-')[0]}-${end}`;
      continue;
    }
    out.push({ range: range!, perms: `${perms} ${offset}`, name });
  }
  return out;
}

/** The image's memory areas of task `pid`, in the same form (file areas named by their path). */
export function imageAreas(dir: string, pid: number): Area[] {
  const images = ImageDir.open(dir);
  const files = new Map(readEntries(images, 'files').map((f) => [f.id, f]));
  const mm = readSingle(images, 'mm', pid);
  return (mm.vmas ?? []).map((v) => {
    const file = v.status & ((1 << 6) | (1 << 7)) ? files.get(Number(v.shmid))?.reg?.name ?? '?' : '';
    const perms = `${v.prot & 1 ? 'r' : '-'}${v.prot & 2 ? 'w' : '-'}${v.prot & 4 ? 'x' : '-'}${v.flags & 1 ? 's' : 'p'}`;
    const offset = (file === '' ? 0n : v.pgoff).toString(16).padStart(8, '0');
    const special = v.status & (1 << 2) ? '[vsyscall]' : v.status & (1 << 3) ? '[vdso]' : v.status & (1 << 12) ? '[vvar]' : v.status & (1 << 5) ? '[heap]' : v.flags & 0x100 ? '[stack]' : '';
    return { range: `${v.start.toString(16).padStart(8, '0')}-${v.end.toString(16).padStart(8, '0')}`, perms: `${perms} ${offset}`, name: file || special };
  });
}

/** An open fd as a test compares it: what it points at, its position and flags. */
export interface FdView {
  fd: number;
  /** The link, with pipe inodes replaced by the order pipes were first seen (`pipe#0`). */
  target: string;
  pos: string;
  flags: string;
}

/** `ls -l /proc/PID/fd` and each fdinfo's pos and flags. */
export function fdTable(pid: number): FdView[] {
  const pipes = new Map<string, number>();
  return readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b)
    .map((fd) => {
      let target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const pipe = /^pipe:\[(\d+)\]$/.exec(target);
      if (pipe) {
        if (!pipes.has(pipe[1]!)) pipes.set(pipe[1]!, pipes.size);
        target = `pipe#${pipes.get(pipe[1]!)}`;
      }
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      return { fd, target, pos: /pos:\s+(\d+)/.exec(info)![1]!, flags: /flags:\s+(\d+)/.exec(info)![1]! };
    });
}

/** The state letter of /proc/PID/stat and its parent. */
export function statOf(pid: number): { state: string; ppid: number; pgid: number; sid: number; comm: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), comm };
}

/** Kills every task in `pids` (SIGKILL), waits until each is gone and empties the set: what a test restored. */
export function killRestored(pids: Set<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const pid of pids) waitGone(pid);
  pids.clear();
}

/**
 * `criu-ts ARGS` that must succeed: silent on stderr, exit code 0. Returns what it printed.
 * For `dump` and `restore` runs whose failure is not what the test is about.
 */
export function criuTsOk(args: string[], timeout?: number): { status: number | null; stdout: string; stderr: string } {
  const out = criuTs(args, timeout);
  expect(out.stderr, `criu-ts ${args.join(' ')}`).toBe('');
  expect(out.status, `criu-ts ${args.join(' ')}`).toBe(0);
  return out;
}

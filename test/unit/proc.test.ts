/** The /proc parsers against a target whose state we set up ourselves (test/programs/proc_state.c). */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PAGEMAP, PagemapReader, RLIM_INFINITY, fdinfoFields, listFds, listProcessChildren, listThreads, namespaceId, pageRuns,
  readAuxv, readFdInfo, readFdLink, readLimits, readMaps, readMountInfo, readPosixTimers, readSmaps, readStat,
  readStatus, readTaskLink, ProcError,
} from '../../src/proc/index.js';
import { REPO_ROOT } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'criu-ts-proc-'));
let pid = 0;
let anon = 0n;
let mapped = 0n;
let child = 0;

function sleepMs(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

beforeAll(() => {
  const binary = join(work, 'proc_state');
  execFileSync('gcc', ['-O1', '-pthread', '-o', binary, join(REPO_ROOT, 'test/programs/proc_state.c')]);
  const ready = join(work, 'ready');
  const data = join(work, 'data file');
  const out = spawnSync('sh', ['-c', `setsid "${binary}" "${ready}" "${data}" </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  pid = Number(out.stdout.trim());
  for (let i = 0; i < 500 && !existsSync(ready); i++) sleepMs(10);
  const [, a, m, c] = readFileSync(ready, 'utf8').trim().split(' ');
  anon = BigInt('0x' + a);
  mapped = BigInt('0x' + m);
  child = Number(c);
});

afterAll(() => {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
  for (let i = 0; i < 300 && existsSync(`/proc/${pid}/exe`); i++) sleepMs(10);
  rmSync(work, { recursive: true, force: true });
});

describe('/proc parsers', () => {
  it('reads status: ids, umask, signals, threads', () => {
    const s = readStatus(pid);
    expect(s.name).toBe('proc_state');
    expect(s.pid).toBe(pid);
    expect(s.tgid).toBe(pid);
    expect(s.umask).toBe(0o027);
    expect(s.threads).toBe(3);
    expect(s.sigBlocked).toBe(1n << 0n); // SIGHUP (1) is bit 0
    expect(s.sharedPending & 1n).toBe(1n);
    expect(s.sigCaught & (1n << 9n)).toBe(1n << 9n); // SIGUSR1 (10)
    expect(s.sigIgnored & (1n << 11n)).toBe(1n << 11n); // SIGUSR2 (12)
    expect(s.uids).toEqual([0, 0, 0, 0]);
    expect(s.nsPid).toEqual([pid]);
  });

  it('reads stat: comm, parentage and the mm layout fields', () => {
    const st = readStat(pid);
    expect(st.comm).toBe('proc_state');
    expect(st.sid).toBe(pid); // setsid
    expect(st.numThreads).toBe(3);
    expect(st.startCode).toBeGreaterThan(0n);
    expect(st.endCode).toBeGreaterThan(st.startCode);
    expect(st.argEnd).toBeGreaterThan(st.argStart);
    expect(readStat(child).ppid).toBe(pid);
  });

  it('lists threads and children', () => {
    expect(listThreads(pid)).toHaveLength(3);
    expect(listThreads(pid)[0]).toBe(pid);
    expect(listProcessChildren(pid)).toEqual([child]);
  });

  it('reads maps and smaps, including a deleted file whose name has a space', () => {
    const maps = readMaps(pid);
    // The kernel may merge the area with an adjacent anonymous one.
    const area = maps.find((m) => m.start <= anon && m.end >= anon + 4n * 4096n)!;
    expect([area.read, area.write, area.exec, area.shared]).toEqual([true, true, false, false]);
    expect(area.path).toBeUndefined();
    const file = maps.find((m) => m.start === mapped)!;
    expect(file.path).toBe(join(work, 'data file with space'));
    expect(file.deleted).toBe(true);
    expect(file.shared).toBe(true);
    expect(maps.some((m) => m.path === '[vdso]')).toBe(true);
    expect(maps.some((m) => m.path === '[stack]')).toBe(true);
    const smaps = readSmaps(pid);
    expect(smaps.length).toBe(maps.length);
    const smapsArea = smaps.find((m) => m.start === area.start)!;
    expect(smapsArea.vmFlags.has('rd') && smapsArea.vmFlags.has('wr')).toBe(true);
    expect(smapsArea.rssKiB).toBeGreaterThanOrEqual(8);
  });

  it('reads pagemap: exactly the touched pages are present', () => {
    const reader = new PagemapReader(pid);
    try {
      const words = reader.read(anon, anon + 4n * 4096n);
      expect(Array.from(words, (w) => (w & PAGEMAP.PRESENT) !== 0n)).toEqual([true, false, true, false]);
      expect(pageRuns(anon, words, (w) => (w & PAGEMAP.PRESENT) !== 0n)).toEqual([
        [anon, anon + 4096n],
        [anon + 8192n, anon + 12288n],
      ]);
    } finally {
      reader.close();
    }
  });

  it('reads fds and fdinfo', () => {
    const fds = listFds(pid);
    expect(fds).toEqual(expect.arrayContaining([0, 1, 2, 10, 11, 12]));
    expect(readFdLink(pid, 10)).toMatch(/^pipe:\[\d+\]$/);
    expect(readFdLink(pid, 11)).toBe('anon_inode:[eventfd]');
    expect(readFdLink(pid, 12)).toBe(join(work, 'data file'));
    const file = readFdInfo(pid, 12);
    expect(file.pos).toBe(42n);
    expect(file.flags & 0o3).toBe(2); // O_RDWR
    const efd = readFdInfo(pid, 11);
    expect(efd.extra.find(([k]) => k === 'eventfd-count')?.[1]).toMatch(/^0*5$/);
    expect(fdinfoFields('tfd:        5 events:       19 data:                0').get('events')).toBe('19');
  });

  it('reads limits, POSIX timers, auxv, links and namespaces', () => {
    const nofile = readLimits(pid)[7]!; // RLIMIT_NOFILE is resource 7
    expect(nofile).toEqual({ name: 'Max open files', soft: 777n, hard: 4096n });
    expect(readLimits(pid)[0]!.soft).toBe(RLIM_INFINITY); // RLIMIT_CPU
    const [timer] = readPosixTimers(pid);
    expect(timer?.clockId).toBe(1); // CLOCK_MONOTONIC
    expect(timer?.signal).toBe(35); // SIGRTMIN + 1 under glibc
    const auxv = new Map(readAuxv(pid));
    expect(auxv.get(6n)).toBe(4096n); // AT_PAGESZ
    expect(readTaskLink(pid, 'cwd')).toBe(process.cwd());
    expect(namespaceId(pid, 'net')).toBe(namespaceId(process.pid, 'net'));
  });

  it('reads mountinfo', () => {
    const mounts = readMountInfo(pid);
    const root = mounts.find((m) => m.mountPoint === '/');
    expect(root).toBeDefined();
    expect(mounts.some((m) => m.fsType === 'proc')).toBe(true);
  });

  it('says PROC_GONE for a task that does not exist', () => {
    expect(() => readStatus(999_999_999)).toThrow(ProcError);
    try {
      readStatus(999_999_999);
    } catch (err) {
      expect((err as ProcError).code).toBe('PROC_GONE');
      expect((err as ProcError).message).toBe('/proc/999999999/status: the task is gone');
    }
  });
});

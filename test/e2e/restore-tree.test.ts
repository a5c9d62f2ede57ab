/**
 * criu-ts restore of tree-level state, end to end on our own dumps of C programs that check
 * themselves after the restore (PASS on SIGTERM): POSIX timers under their own ids, seccomp
 * filters, tasks sharing their fd table and fs, nested sessions and process groups (zombie
 * leaders included), and a restore into a new PID namespace while the tree's PIDs are taken.
 * Every failure path is checked to leave no task behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readSingle } from '../../src/images/typed.js';
import { syscall } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, killProgram, startProgram, waitFor, type Target } from '../support/programs.js';
import { criuTs, criuTsOk, killRestored, seedsAlive, statOf, waitGone } from '../support/restore.js';
import { CRIU_TS } from '../support/paths.js';
import { decodeImage, encodeImage } from '../../src/images/framing.js';

/** kcmp(2) types. */
const KCMP = { FILES: 2, FS: 3 } as const;

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-tree-'));
const restored = new Set<number>();
afterEach(() => {
  killRestored(restored);
  killAllPrograms();
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * Dumps `pid` into `scratch/name` (the tree is killed) and waits until each of `pids` is free.
 * The tree's tasks are killed after the test whatever happens (some live in sessions of their
 * own, out of reach of the program's own cleanup).
 */
function dump(pid: number, name: string, pids: number[] = [pid]): string {
  for (const p of pids) restored.add(p);
  const dir = join(scratch, name);
  criuTsOk(['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log']);
  for (const p of pids) waitGone(p);
  return dir;
}

function restoreDetached(dir: string, pids: number[], extra: string[] = []): void {
  for (const p of pids) restored.add(p);
  criuTsOk(['restore', '-D', dir, '-d', '-o', 'restore.log', ...extra]);
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

/** The `NSpid:` line of a task: its PID in each namespace, this machine's first. */
function nsPids(pid: number): number[] {
  return /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim().split(/\s+/).map(Number);
}

/** Every process of this machine that lives in a PID namespace below ours. */
function nestedPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (nsPids(Number(name)).length > 1) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
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

  it('restores nested sessions and groups: a setsid child, a group led by a sibling, born before setsid, zombie leaders, gone leaders', () => {
    const target = startProgram('sessions');
    const pids = target.waitOutput(/tree((?: \d+)+)/)[1]!.trim().split(' ').map(Number);
    expect(pids).toHaveLength(15);
    const view = () => pids.map((p) => {
      const st = statOf(p);
      return `${p} ${st.state} ppid ${st.ppid} pgid ${st.pgid} sid ${st.sid}`;
    });
    const before = view();
    // K (group of L) and S (session of T) are gone; Z and G are zombies.
    const [, , , , , , , , z, , , g, , l, t] = pids;
    expect(statOf(z!).state).toBe('Z');
    expect(statOf(g!).state).toBe('Z');
    expect(pids).not.toContain(statOf(l!).pgid);
    expect(pids).not.toContain(statOf(t!).sid);
    const dir = dump(target.pid, 'sessions', pids);
    restoreDetached(dir, pids);
    expect(view()).toEqual(before);
    expect(readFileSync(join(dir, 'restore.log'), 'utf8')).toMatch(/helpers \d+, \d+, \d+: exited and reaped/);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict', 20_000);
    expect(target.out()).toMatch(/^PASS$/m);
  });

  describe('--unshare pid', () => {
    /** Starts pid_check and dumps it leaving it running: it keeps every PID the images need. */
    function dumpKeepingPids(name: string): { target: Target; pids: number[]; dir: string } {
      const target = startProgram('pid_check');
      const pids = target.waitOutput(/pids (\d+) (\d+) (\d+)/).slice(1).map(Number);
      const dir = join(scratch, name);
      criuTsOk(['dump', '-t', String(target.pid), '-D', dir, '-o', 'dump.log', '-R']);
      return { target, pids, dir };
    }

    it('restores a tree whose PIDs are taken into a PID namespace of its own: the same PIDs inside, its own /proc', () => {
      const { target, pids, dir } = dumpKeepingPids('pidns');
      const [main, child, thread] = pids as [number, number, number];
      const refused = criuTs(['restore', '-D', dir, '-d']);
      expect(refused.stderr).toContain(`PID ${main} is in use on this machine, and task ${main} needs it: restore with --unshare pid`);
      expect(seedsAlive()).toEqual([]);

      const pidfile = join(dir, 'restored.pid');
      criuTsOk(['restore', '-D', dir, '-d', '-o', 'restore.log', '--unshare', 'pid', '--pidfile', pidfile]);
      const host = Number(readFileSync(pidfile, 'utf8'));
      restored.add(statOf(host).ppid); // the init: killing it takes the whole namespace
      expect(host).not.toBe(main);
      expect(nsPids(host)).toEqual([host, main]);
      const [hostChild] = readFileSync(`/proc/${host}/task/${host}/children`, 'utf8').trim().split(' ').map(Number);
      expect(nsPids(hostChild!)).toEqual([hostChild, child]);
      const threads = readdirSync(`/proc/${host}/task`).map(Number).filter((t) => t !== host);
      expect(threads.map((t) => nsPids(t)[1])).toEqual([thread]);
      // The namespace's init is the root's parent: PID 1 inside, with a /proc of its own mounted.
      const init = statOf(host).ppid;
      expect(nsPids(init)).toEqual([init, 1]);
      expect(readFileSync(`/proc/${host}/mountinfo`, 'utf8')).toMatch(/ \/proc .* - proc proc /);
      expect(readFileSync(join(dir, 'restore.log'), 'utf8')).toMatch(new RegExp(`restore finished: 2 task\\(s\\), root ${main} \\(PID ${host} here, in a PID namespace whose init is ${init}\\)`));

      killProgram(target); // only the restored tree writes to the output now
      const before = target.out();
      process.kill(host, 'SIGTERM');
      waitFor(() => /PASS|FAIL/.test(target.out().slice(before.length)), 'the verdict', 20_000);
      expect(target.out().slice(before.length)).toMatch(/^PASS$/m);
      // The init reaps the tree, then exits: nothing of the namespace is left.
      waitGone(init);
    });

    it('attached: criu-ts waits for the namespace and exits with the root\'s exit code', async () => {
      const { target, dir } = dumpKeepingPids('pidns-attached');
      const pidfile = join(dir, 'attached.pid');
      const child = spawn(process.execPath, [CRIU_TS, 'restore', '-D', dir, '--unshare', 'pid', '--pidfile', pidfile], { stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      waitFor(() => existsSync(pidfile) && readFileSync(pidfile, 'utf8').endsWith('\n'), 'the pidfile', 20_000);
      const host = Number(readFileSync(pidfile, 'utf8'));
      const init = statOf(host).ppid;
      restored.add(init); // killing the init takes the whole namespace
      waitFor(() => /TracerPid:\s+0\n/.test(readFileSync(`/proc/${host}/status`, 'utf8')), 'the restored root to run on its own');
      killProgram(target);
      // The namespace lives while any of its tasks does: the child first, then the root.
      const [hostChild] = readFileSync(`/proc/${host}/task/${host}/children`, 'utf8').trim().split(' ').map(Number);
      process.kill(hostChild!, 'SIGKILL');
      waitFor(() => statOf(hostChild!).state === 'Z', 'the child to die');
      process.kill(host, 'SIGKILL');
      expect(await exited).toBe(128 + 9);
      waitGone(init);
    });

    it('kills the whole namespace when a step fails, naming the task, image and step', () => {
      const { target, dir } = dumpKeepingPids('pidns-fails');
      const file = join(dir, `mm-${target.pid}.img`);
      const image = decodeImage(readFileSync(file));
      const vmas = image.entries[0]!.message['vmas'] as Array<Record<string, unknown>>;
      const fileArea = vmas.find((v) => ((v['status'] as number) & (1 << 6)) !== 0)!;
      fileArea['pgoff'] = (fileArea['pgoff'] as bigint) + 1n;
      writeFileSync(file, encodeImage(image));
      const nested = nestedPids();
      const out = criuTs(['restore', '-D', dir, '-d', '--unshare', 'pid']);
      expect(out.status).toBe(1);
      expect(out.stderr).toMatch(new RegExp(`Restore of task ${target.pid} failed to restore its memory \\(image mm-${target.pid}\\.img\\):.*\\[RESTORE_FAILED\\]`));
      expect(nestedPids().filter((p) => !nested.includes(p))).toEqual([]);
      expect(seedsAlive()).toEqual([]);
    });
  });
});

/**
 * criu-ts restore end to end on our own dumps of test/programs/dump_target.c: the restored task
 * has its PID, its memory areas exactly as the image has them (nothing of the restore left), the
 * fd table with positions and flags it had, its threads, handler, mask and pipe data (it checks
 * them itself and prints PASS on SIGTERM); the images can be restored twice; attached mode exits
 * with the task's code; and every failure — a PID taken, a file of another size, a truncated
 * image, a step that fails once tasks exist — leaves no process behind.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { close, F, fcntl, pidfdGetfd, pidfdOpen, syscall } from '../../src/sys/index.js';
import { CRIU_TS } from '../support/paths.js';
import { buildProgram, cleanupPrograms, killAllPrograms, makeFifo, startProgram, waitFor, workDir, type Target } from '../support/programs.js';
import { criuTs, criuTsOk, fdTable, imageAreas, killRestored, mapsAreas, pidTaken, seedsAlive, statOf, waitGone, type Area } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-'));
const restored = new Set<number>();
afterEach(() => {
  killRestored(restored);
  killAllPrograms();
});
afterAll(() => {
  cleanupPrograms();
  rmSync(scratch, { recursive: true, force: true });
});

let serial = 0;

/** Starts dump_target, records what the test compares, dumps it (killed), waits for its PID. */
function dumpTarget(mib = 4): { target: Target; dir: string; dataFile: string; areas: Area[]; fds: ReturnType<typeof fdTable>; mm: string[] } {
  const dataFile = join(workDir(), `data-${++serial}`);
  const target = startProgram('dump_target', { args: [String(mib), dataFile] });
  target.waitOutput(/pattern/);
  const areas = mapsAreas(target.pid);
  const fds = fdTable(target.pid);
  const mm = mmView(target.pid);
  const dir = join(scratch, `images-${serial}`);
  criuTsOk(['dump', '-t', String(target.pid), '-D', dir, '-o', 'dump.log']);
  waitGone(target.pid);
  return { target, dir, dataFile, areas, fds, mm };
}

/** What PR_SET_MM_MAP restores, as /proc shows it: exe, cmdline, environ, auxv, and stat's mm fields. */
function mmView(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [
    readlinkSync(`/proc/${pid}/exe`),
    readFileSync(`/proc/${pid}/cmdline`, 'latin1'),
    readFileSync(`/proc/${pid}/environ`, 'latin1'),
    readFileSync(`/proc/${pid}/auxv`).toString('hex'),
    // Fields 26-28 of stat (start_code, end_code, start_stack) and 45-51 (start_data, end_data,
    // start_brk, arg_start, arg_end, env_start, env_end); `fields` starts at field 3.
    [...fields.slice(23, 26), ...fields.slice(42, 49)].join(' '),
  ];
}

function restoreDetached(dir: string, pid: number): void {
  criuTsOk(['restore', '-D', dir, '-d', '-o', 'restore.log']);
  restored.add(pid);
}

/** The areas after the restore are the image's, and the ones the task had before the dump. */
function sameAreas(before: Area[], after: Area[], image: Area[]): void {
  expect(after).toEqual(image);
  expect(after).toEqual(before);
}

describe('criu-ts restore', () => {
  it('restores our dump of dump_target: its PID, memory areas, fds at their offsets; it checks the rest itself', () => {
    const { target, dir, areas, fds, mm } = dumpTarget();
    restoreDetached(dir, target.pid);
    expect(mmView(target.pid)).toEqual(mm);
    expect(statOf(target.pid)).toMatchObject({ comm: 'dump_target', pgid: target.pid, sid: target.pid });
    expect(['S', 'R']).toContain(statOf(target.pid).state);
    sameAreas(areas, mapsAreas(target.pid), imageAreas(dir, target.pid));
    expect(fdTable(target.pid)).toEqual(fds);
    expect(readFileSync(join(dir, 'restore.log'), 'utf8')).toMatch(/restore finished: 1 task\(s\), root \d+/);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
    expect(target.out()).not.toMatch(/FAIL/);
  });

  it('restores twice from the same images', () => {
    const { target, dir } = dumpTarget(1);
    restoreDetached(dir, target.pid);
    process.kill(target.pid, 'SIGKILL');
    waitGone(target.pid);
    restoreDetached(dir, target.pid);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('attached: forwards SIGTERM to the task and exits with its exit code; 128 + signal when it is killed', async () => {
    const { target, dir } = dumpTarget(1);
    /** Restores attached; once the task runs on its own, `act` is done to it (or to criu-ts). */
    const attached = (act: (cli: number) => void): Promise<number | null> => {
      const child = spawn(process.execPath, [CRIU_TS, 'restore', '-D', dir, '-o', 'attached.log'], { stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      waitFor(() => pidTaken(target.pid) && statOf(target.pid).ppid === child.pid && /TracerPid:\s+0\n/.test(readFileSync(`/proc/${target.pid}/status`, 'utf8')), 'the restored task to run on its own', 20_000);
      act(child.pid!);
      return exited;
    };
    // Killed first: a task that printed PASS grew its output file, and the images no longer fit it.
    expect(await attached(() => process.kill(target.pid, 'SIGKILL'))).toBe(128 + 9);
    waitGone(target.pid);
    expect(await attached((cli) => process.kill(cli, 'SIGTERM'))).toBe(0);
    target.waitOutput(/PASS/);
    waitGone(target.pid);
  });

  it('restores timers, altstacks, pending signals with their values, limits, nice, umask, cwd, names and TLS of each thread', () => {
    const target = startProgram('restore_state');
    const dir = join(scratch, 'state');
    expect(criuTs(['dump', '-t', String(target.pid), '-D', dir]).status).toBe(0);
    waitGone(target.pid);
    restoreDetached(dir, target.pid);
    const status = readFileSync(`/proc/${target.pid}/status`, 'utf8');
    expect(/ShdPnd:\s+(\w+)/.exec(status)![1]).not.toBe('0000000000000000');
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict');
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('restores shared anonymous memory (once, shared again by both tasks) and a zombie with its exit code', () => {
    const target = startProgram('shm_zombie');
    const [, , childText, zombieText] = target.waitOutput(/shm ([0-9a-f]+) child (\d+) zombie (\d+)/);
    const child = Number(childText);
    const zombie = Number(zombieText);
    const dir = join(scratch, 'shm-zombie');
    expect(criuTs(['dump', '-t', String(target.pid), '-D', dir]).status).toBe(0);
    waitGone(target.pid);
    waitGone(child);
    restoreDetached(dir, target.pid);
    expect(statOf(child)).toMatchObject({ ppid: target.pid, comm: 'shm_zombie' });
    expect(statOf(zombie)).toMatchObject({ ppid: target.pid, comm: 'shm_zombie', state: 'Z' });
    // The same segment in both: a page the child writes now is seen by the parent's mapping.
    const shmArea = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').find((l) => / rw-s /.test(l))!;
    expect(shmArea(child).split(/\s+/)[4]).toBe(shmArea(target.pid).split(/\s+/)[4]);
    // It checks the pages both wrote, reaps the zombie (exit code 7) and its child: PASS.
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  for (const program of ['signalfd_state', 'timerfd_state', 'epoll_state']) {
    it(`restores the fds of ${program} (same fd table; it checks masks, timers, targets itself)`, () => {
      const target = startProgram(program);
      const fds = fdTable(target.pid);
      const epoll = (pid: number) => (program === 'epoll_state' ? readFileSync(`/proc/${pid}/fdinfo/6`, 'utf8').split('\n').filter((l) => l.startsWith('tfd:')).map((l) => l.replace(/ pos:.*/, '')).sort() : []);
      const targets = epoll(target.pid);
      const dir = join(scratch, program);
      expect(criuTs(['dump', '-t', String(target.pid), '-D', dir]).status).toBe(0);
      waitGone(target.pid);
      restoreDetached(dir, target.pid);
      expect(fdTable(target.pid)).toEqual(fds);
      expect(epoll(target.pid)).toEqual(targets);
      process.kill(target.pid, 'SIGTERM');
      waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict');
      expect(target.out()).toMatch(/^PASS$/m);
    });
  }

  it('restores a fifo with its buffered data and memfds with their contents, seals, mode and offsets', () => {
    const fifo = makeFifo('restore');
    const target = startProgram('restore_files', { args: [fifo] });
    const fds = fdTable(target.pid);
    const dir = join(scratch, 'fifo-memfd');
    expect(criuTs(['dump', '-t', String(target.pid), '-D', dir]).status).toBe(0);
    waitGone(target.pid);
    restoreDetached(dir, target.pid);
    expect(fdTable(target.pid)).toEqual(fds);
    process.kill(target.pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(target.out()), 'the verdict');
    expect(target.out()).toMatch(/^PASS$/m);
  });

  it('restores a parent and child sharing open files: fd tables, offsets, flags, shared descriptions, SIGIO owner', () => {
    const dataFile = join(workDir(), `files-${++serial}`);
    const target = startProgram('files_state', { args: [dataFile] });
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const before = [fdTable(target.pid), fdTable(child)];
    const dir = join(scratch, 'files');
    expect(criuTs(['dump', '-t', String(target.pid), '-D', dir]).status).toBe(0);
    waitGone(target.pid);
    waitGone(child);
    restoreDetached(dir, target.pid);
    expect([fdTable(target.pid), fdTable(child)]).toEqual(before);
    const KCMP_FILE = 0;
    for (const fd of [3, 4, 5, 6, 8]) expect(syscall('kcmp', target.pid, child, KCMP_FILE, fd, fd)).toBe(0n);
    expect(syscall('kcmp', target.pid, target.pid, KCMP_FILE, 6, 7)).toBe(0n);
    const pidfd = pidfdOpen(target.pid);
    const copy = pidfdGetfd(pidfd, 6);
    try {
      expect(fcntl(copy, F.GETOWN)).toBe(target.pid);
      expect(fcntl(copy, F.GETSIG)).toBe(10); // SIGUSR1
    } finally {
      close(copy);
      close(pidfd);
    }
    process.kill(child, 'SIGKILL');
  });

  it('restores a task of another user with its credentials, in every thread', () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-ts-nobody-')); // the user must reach it
    chmodSync(dir, 0o1777);
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, 'dump_target');
    execFileSync('cp', [buildProgram('dump_target'), bin]);
    chmodSync(bin, 0o755);
    const out = join(dir, 'out');
    const script = `READY_FILE=${dir}/ready setsid setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ${bin} 1 </dev/null >${out} 2>&1 & echo $!`;
    const pid = Number(spawnSync('sh', ['-c', script], { encoding: 'utf8' }).stdout.trim());
    restored.add(pid);
    waitFor(() => existsSync(`${dir}/ready`), 'the target to be ready');
    const creds = (p: number, tid = p) => readFileSync(`/proc/${p}/task/${tid}/status`, 'utf8').split('\n').filter((l) => /^(Uid|Gid|Groups|Cap\w+):/.test(l));
    const before = creds(pid);
    expect(before[0]).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/);
    const images = join(dir, 'images');
    expect(criuTs(['dump', '-t', String(pid), '-D', images]).status).toBe(0);
    waitGone(pid);
    restoreDetached(images, pid);
    for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) expect(creds(pid, tid)).toEqual(before);
    process.kill(pid, 'SIGTERM');
    waitFor(() => /PASS|FAIL/.test(readFileSync(out, 'utf8')), 'PASS');
    expect(readFileSync(out, 'utf8')).toMatch(/PASS/);
  });

  it('stops on SIGINT during the restore: RESTORE_INTERRUPTED, every task created killed', async () => {
    const { target, dir } = dumpTarget(64);
    const child = spawn(process.execPath, [CRIU_TS, 'restore', '-D', dir, '-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && /tree: 1 task/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/\[RESTORE_INTERRUPTED\]/);
    expect(pidTaken(target.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });

  it('refuses while a PID is taken (PID_TAKEN names it and its task) and starts nothing', () => {
    const target = startProgram('dump_target', { args: ['1'] });
    const dir = join(scratch, 'taken');
    expect(criuTs(['dump', '-t', String(target.pid), '-D', dir, '-R']).status).toBe(0);
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`PID ${target.pid} is in use on this machine, and task ${target.pid} needs it: restore with --unshare pid to give the tree a PID namespace of its own [PID_TAKEN]`);
    expect(seedsAlive()).toEqual([]);
  });

  it('refuses a regular file whose size changed (FILE_CHANGED: path, expected and actual size); nothing left', () => {
    const { target, dir, dataFile } = dumpTarget(1);
    appendFileSync(dataFile, 'more');
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`${dataFile} (fd 5 of task ${target.pid}) has size 74, the image says 70 [FILE_CHANGED]`);
    expect(pidTaken(target.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });

  it('refuses a truncated image (IMG_TRUNCATED); nothing left', () => {
    const { target, dir } = dumpTarget(1);
    truncateSync(join(dir, `mm-${target.pid}.img`), 64);
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`mm-${target.pid}\\.img.*\\[IMG_TRUNCATED\\]`));
    expect(pidTaken(target.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });

  it('kills and reaps every task it created when a step fails later, naming the task, image and step', () => {
    const { target, dir } = dumpTarget(1);
    // A file area whose offset is not page-aligned: every image decodes, and the task's mmap fails.
    const file = join(dir, `mm-${target.pid}.img`);
    const image = decodeImage(readFileSync(file));
    const vmas = image.entries[0]!.message['vmas'] as Array<Record<string, unknown>>;
    const fileArea = vmas.find((v) => ((v['status'] as number) & (1 << 6)) !== 0)!;
    fileArea['pgoff'] = (fileArea['pgoff'] as bigint) + 1n;
    writeFileSync(file, encodeImage(image));
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(new RegExp(`Restore of task ${target.pid} failed to restore its memory \\(image mm-${target.pid}\\.img\\): mmap\\(.*\\) to map 0x[0-9a-f]+-0x[0-9a-f]+ failed in task ${target.pid}: EINVAL.*\\[RESTORE_FAILED\\]`));
    expect(pidTaken(target.pid)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });
});

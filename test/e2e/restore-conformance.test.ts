/**
 * criu-ts restores the image sets upstream CRIU 4.2 wrote (test/fixtures/conformance, README
 * there): the tasks come back with the PIDs of pstree.img, their memory areas exactly as the
 * images have them (no bootstrap left), and they run on — sleep sleeps, the bash loop counts on
 * in /tmp/cnt, the pipeline's shell keeps starting sleeps while yes writes, the Python program's
 * threads live and its pipe, socketpair and TCP connection (with --tcp-established) hold their
 * bytes and carry new ones. Each set needs its PIDs
 * free on this machine: a set whose PID is taken is skipped, saying which.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { MSG, close, pidfdGetfd, pidfdOpen, read, recvmsg, sendmsg } from '../../src/sys/index.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { pause, waitFor } from '../support/programs.js';
import { criuTs, imageAreas, mapsAreas, pidTaken, seedsAlive, statOf, waitGone } from '../support/restore.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-conf-'));
const groups: number[] = [];
afterEach(() => {
  for (const pgid of groups.splice(0)) {
    const members = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => {
      try {
        return statOf(p).pgid === pgid;
      } catch {
        return false;
      }
    });
    for (const p of members) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const p of members) waitGone(p);
  }
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const SETS: Record<string, number[]> = {
  sleep: [15349],
  'bash-loop': [14711, 14834],
  pipeline: [15396, 15398, 15399, 15407],
  'python-state': [15368, 15370],
};

type SkipContext = { skip: (condition: boolean, note?: string) => void };

/** Why a set cannot be restored here, or null. */
function blocker(set: string): string | null {
  const taken = SETS[set]!.filter(pidTaken);
  return taken.length === 0 ? null : `PID ${taken.join(', ')} of the ${set} set is in use on this machine`;
}

/**
 * Skips the test, saying why, when a PID of the set is in use now (checked when the test runs:
 * PIDs wrap around at pid_max, and any process of a busy machine may hold one for a while).
 */
function skipIfTaken(ctx: SkipContext, set: string): void {
  const why = blocker(set);
  if (why !== null) console.warn(`skipped: ${why}`);
  ctx.skip(why !== null, why ?? undefined);
}

/**
 * Restores a copy of `set`. A PID of the set may be taken by some short-lived process of a busy
 * machine (the other test files run meanwhile) between the check and the restore: the restore then
 * refuses with PID_TAKEN before starting anything, and is tried again a little later; still taken
 * after a few tries, the test is skipped, saying which PID.
 */
function restoreSet(ctx: SkipContext, set: string, extra: string[] = []): string {
  const dir = join(scratch, set);
  for (let attempt = 1; ; attempt++) {
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(CONFORMANCE_DIR, set, 'images'), dir, { recursive: true });
    const out = criuTs(['restore', '-D', dir, '-d', '-o', 'restore.log', ...extra]);
    if (out.status !== 0 && /\[PID_TAKEN\]/.test(out.stderr)) {
      if (attempt < 5) {
        pause(500);
        continue;
      }
      console.warn(`skipped: ${out.stderr.trim()}`);
      ctx.skip(true, out.stderr.trim());
    }
    groups.push(SETS[set]![0]!);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    return dir;
  }
}

/** The children of a task, from /proc/PID/task/TID/children. */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('criu-ts restores the conformance sets of CRIU 4.2', () => {
  it('sleep: the task runs sleep with its PID and exactly its memory areas', (ctx) => {
    skipIfTaken(ctx, 'sleep');
    const dir = restoreSet(ctx, 'sleep');
    const pid = 15349;
    expect(statOf(pid)).toMatchObject({ comm: 'sleep', pgid: pid, sid: pid, state: 'S' });
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x001000\x00');
    expect(mapsAreas(pid)).toEqual(imageAreas(dir, pid));
    pause(200);
    expect(statOf(pid).state).toBe('S');
  });

  it('bash-loop: bash counts on in /tmp/cnt', (ctx) => {
    skipIfTaken(ctx, 'bash-loop');
    rmSync('/tmp/cnt', { force: true }); // a value left by an earlier run may be higher than ours
    const dir = restoreSet(ctx, 'bash-loop');
    const pid = 14711;
    expect(statOf(pid).comm).toBe('bash');
    expect(mapsAreas(pid)).toEqual(imageAreas(dir, pid));
    const count = () => (existsSync('/tmp/cnt') ? Number(readFileSync('/tmp/cnt', 'utf8').trim()) : -1);
    waitFor(() => count() >= 0, '/tmp/cnt');
    const first = count();
    waitFor(() => count() >= first + 3, 'the loop to count on', 5000);
    waitFor(() => children(pid).some((c) => c !== 14834), 'bash to start a new sleep', 5000);
    expect(statOf(pid).state).toMatch(/[SR]/);
  });

  it('pipeline: four tasks with their PIDs and parents; yes writes, the reader starts new sleeps', (ctx) => {
    skipIfTaken(ctx, 'pipeline');
    const dir = restoreSet(ctx, 'pipeline');
    expect(statOf(15398)).toMatchObject({ comm: 'yes', ppid: 15396, pgid: 15396 });
    expect(statOf(15399)).toMatchObject({ comm: 'bash', ppid: 15396, pgid: 15396 });
    for (const pid of [15396, 15398, 15399]) expect(mapsAreas(pid)).toEqual(imageAreas(dir, pid));
    // The reader's sleep (15407) ends; the reader reads another line and starts a new sleep.
    waitFor(() => children(15399).some((c) => c !== 15407), 'the reader to start a new sleep', 5000);
    expect(statOf(15398).state).toMatch(/[SR]/);
  });

  it('python-state: two threads; its pipe, file, eventfd, unix socketpair and TCP connection hold what they held, and the connection carries data', (ctx) => {
    skipIfTaken(ctx, 'python-state');
    const portTaken = spawnSync('sh', ['-c', 'ss -Htln "sport = :47001"'], { encoding: 'utf8' }).stdout.trim() !== '';
    if (portTaken) console.warn('skipped: port 47001 (python-state) is in use');
    ctx.skip(portTaken, 'port 47001 is in use on this machine');
    // What the workload had open, as its README says: 100 bytes it wrote itself.
    mkdirSync('/tmp/conformance', { recursive: true });
    writeFileSync('/tmp/conformance/data.txt', '0123456789'.repeat(10));
    restoreSet(ctx, 'python-state', ['--tcp-established']);
    const pid = 15368;
    expect(statOf(pid).comm).toBe('python3');
    expect(readdirSync(`/proc/${pid}/task`).map(Number).sort()).toEqual([15368, 15370]);
    expect(readFileSync(`/proc/${pid}/fdinfo/5`, 'utf8')).toMatch(/^pos:\s+42\n/);

    const pidfd = pidfdOpen(pid);
    const take = (fd: number) => pidfdGetfd(pidfd, fd);
    const got = (fd: number, n: number, how: 'read' | 'recv' = 'recv') => {
      const buf = Buffer.alloc(n);
      const len = how === 'read' ? read(fd, buf) : recvmsg(fd, buf, { flags: MSG.DONTWAIT }).bytes;
      return buf.subarray(0, len).toString();
    };
    const [pipeR, unixB, efd, client, server] = [3, 7, 8, 10, 11].map(take) as [number, number, number, number, number];
    try {
      expect(got(pipeR, 64, 'read')).toBe('pipe-data-before-dump\n');
      expect(got(unixB, 64)).toBe('unix-queued');
      const counter = Buffer.alloc(8);
      read(efd, counter);
      expect(counter.readBigUInt64LE()).toBe(7n);
      // The bytes in flight in the connection at the dump, then new ones both ways.
      waitFor(() => recvmsg(server, Buffer.alloc(64), { flags: MSG.PEEK | MSG.DONTWAIT }).bytes === 13, 'the 13 bytes in flight');
      expect(got(server, 64)).toBe('tcp-in-flight');
      sendmsg(client, { data: Buffer.from('after the restore') });
      sendmsg(server, { data: Buffer.from('and back') });
      waitFor(() => recvmsg(server, Buffer.alloc(64), { flags: MSG.PEEK | MSG.DONTWAIT }).bytes === 17, 'data from the client');
      expect(got(server, 64)).toBe('after the restore');
      waitFor(() => recvmsg(client, Buffer.alloc(64), { flags: MSG.PEEK | MSG.DONTWAIT }).bytes === 8, 'data from the server');
      expect(got(client, 64)).toBe('and back');
    } finally {
      for (const fd of [pipeR, unixB, efd, client, server, pidfd]) close(fd);
    }
    // The worker thread sleeps 0.2 s at a time, the main one 0.1 s: both keep switching.
    const switches = (tid: number) => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]);
    const before = [switches(15368), switches(15370)];
    pause(700);
    expect(switches(15368)).toBeGreaterThan(before[0]! + 3);
    expect(switches(15370)).toBeGreaterThan(before[1]! + 1);
  });

  it('a failure in the second task kills the first one too, and the seed', (ctx) => {
    skipIfTaken(ctx, 'bash-loop');
    const dir = join(scratch, 'bash-loop-broken');
    rmSync(dir, { recursive: true, force: true });
    cpSync(join(CONFORMANCE_DIR, 'bash-loop', 'images'), dir, { recursive: true });
    const file = join(dir, 'mm-14834.img');
    const image = decodeImage(readFileSync(file));
    const vmas = image.entries[0]!.message['vmas'] as Array<Record<string, unknown>>;
    const area = vmas.find((v) => ((v['status'] as number) & (1 << 6)) !== 0)!;
    area['pgoff'] = (area['pgoff'] as bigint) + 1n;
    writeFileSync(file, encodeImage(image));
    const out = criuTs(['restore', '-D', dir, '-d']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/Restore of task 14834 failed to restore its memory \(image mm-14834\.img\).*EINVAL.*\[RESTORE_FAILED\]/);
    expect(pidTaken(14711)).toBe(false);
    expect(pidTaken(14834)).toBe(false);
    expect(seedsAlive()).toEqual([]);
  });
});

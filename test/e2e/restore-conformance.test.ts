/**
 * criu-ts restores the image sets upstream CRIU 4.2 wrote (test/fixtures/conformance, README
 * there): the tasks come back with the PIDs of pstree.img, their memory areas exactly as the
 * images have them (no bootstrap left), and they run on — sleep sleeps, the bash loop counts on
 * in /tmp/cnt, the pipeline's shell keeps starting sleeps while yes writes. Each set needs its PIDs
 * free on this machine: a set whose PID is taken is skipped, saying which.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
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
};

/** Why a set cannot be restored here, or null. */
function blocker(set: string): string | null {
  const taken = SETS[set]!.filter(pidTaken);
  return taken.length === 0 ? null : `PID ${taken.join(', ')} of the ${set} set is in use on this machine`;
}

/**
 * Skips the test, saying why, when a PID of the set is in use now (checked when the test runs:
 * PIDs wrap around at pid_max, and any process of a busy machine may hold one for a while).
 */
function skipIfTaken(ctx: { skip: (condition: boolean, note?: string) => void }, set: string): void {
  const why = blocker(set);
  if (why !== null) console.warn(`skipped: ${why}`);
  ctx.skip(why !== null, why ?? undefined);
}

function restoreSet(set: string): string {
  const dir = join(scratch, set);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(CONFORMANCE_DIR, set, 'images'), dir, { recursive: true });
  const out = criuTs(['restore', '-D', dir, '-d', '-o', 'restore.log']);
  groups.push(SETS[set]![0]!);
  expect(out.stderr).toBe('');
  expect(out.status).toBe(0);
  return dir;
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
    const dir = restoreSet('sleep');
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
    const dir = restoreSet('bash-loop');
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
    const dir = restoreSet('pipeline');
    expect(statOf(15398)).toMatchObject({ comm: 'yes', ppid: 15396, pgid: 15396 });
    expect(statOf(15399)).toMatchObject({ comm: 'bash', ppid: 15396, pgid: 15396 });
    for (const pid of [15396, 15398, 15399]) expect(mapsAreas(pid)).toEqual(imageAreas(dir, pid));
    // The reader's sleep (15407) ends; the reader reads another line and starts a new sleep.
    waitFor(() => children(15399).some((c) => c !== 15407), 'the reader to start a new sleep', 5000);
    expect(statOf(15398).state).toMatch(/[SR]/);
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

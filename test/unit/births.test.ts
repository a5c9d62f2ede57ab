/**
 * planBirths on small made-up trees: who makes each task and when, who calls setsid() or leads a
 * group, who joins a group, which helpers are made, and which layouts are refused.
 */
import { describe, expect, it } from 'vitest';
import { planBirths, type BirthPlan } from '../../src/restore/births.js';
import { isRestoreError } from '../../src/restore/errors.js';
import type { RestorePlan, TaskPlan } from '../../src/restore/plan.js';

/** [pid, ppid, pgid, sid, flags]: 'z' a zombie, 's' a child subreaper. */
type Row = [number, number, number, number, string?];

function planOf(rows: Row[]): RestorePlan {
  const tasks = rows.map(([pid, ppid, pgid, sid, flags = '']) => ({
    pid, ppid, pgid, sid,
    threads: [{ tid: pid, image: `core-${pid}.img`, core: { tc: { child_subreaper: flags.includes('s') } } }],
    children: [], state: 1, zombie: flags.includes('z'), exitCode: 0,
  })) as unknown as TaskPlan[];
  return { tasks, root: tasks[0]!, byPid: new Map(tasks.map((t) => [t.pid, t])) } as unknown as RestorePlan;
}

/** "pid<creator" with "!" for setsid, "+" for own group, "^" for made early, "@" adopts; helpers in brackets. */
function show(p: BirthPlan): string[] {
  return p.births.map((b) => `${b.task === undefined ? '[' : ''}${b.pid}<${b.creator}${b.setsid ? '!' : ''}${b.ownGroup ? '+' : ''}${b.early ? '^' : ''}${b.adopts ? '@' : ''}${b.task === undefined ? ']' : ''}`);
}

function refusal(rows: Row[]): string {
  try {
    planBirths(planOf(rows));
  } catch (err) {
    if (isRestoreError(err, 'RESTORE_UNSUPPORTED')) return err.message;
    throw err;
  }
  return 'accepted';
}

describe('planBirths', () => {
  it('makes a plain tree parent first, members joining their groups', () => {
    const p = planBirths(planOf([[10, 0, 10, 10], [11, 10, 11, 10], [12, 11, 11, 10], [13, 10, 11, 10]]));
    expect(show(p)).toEqual(['10<0!', '11<10+', '12<11', '13<10']);
    expect(p.joins).toEqual([{ pid: 12, pgid: 11 }, { pid: 13, pgid: 11 }]);
    expect(p.helpers).toEqual([]);
  });

  it('makes a child session: its leader calls setsid, its members are made after it', () => {
    const p = planBirths(planOf([[10, 0, 10, 10], [20, 10, 20, 20], [21, 20, 20, 20], [22, 20, 22, 20], [23, 20, 22, 20]]));
    expect(show(p)).toEqual(['10<0!', '20<10!', '21<20', '22<20+', '23<20']);
    expect(p.joins).toEqual([{ pid: 21, pgid: 20 }, { pid: 23, pgid: 22 }]);
  });

  it('makes the children of the old session before the parent calls setsid (born sid)', () => {
    // 20 was born in session 10, made 21, then called setsid; 30 (under 21) too, then 31 in 30's.
    const p = planBirths(planOf([[10, 0, 10, 10], [20, 10, 20, 20], [21, 20, 10, 10], [22, 20, 20, 20], [30, 21, 30, 30], [31, 30, 10, 10]]));
    expect(show(p)).toEqual(['10<0!', '20<10!', '21<20^', '30<21!', '31<30^', '22<20']);
  });

  it('lets a zombie session leader make the members its subreaper parent adopted', () => {
    const p = planBirths(planOf([[10, 0, 10, 10, 's'], [20, 10, 20, 20, 'z'], [21, 10, 20, 20], [22, 10, 22, 20]]));
    expect(show(p)).toEqual(['10<0!@', '20<10!', '21<20', '22<20+']);
    expect(p.helpers).toEqual([]);
    expect(p.joins).toEqual([{ pid: 21, pgid: 20 }]);
  });

  it('gives a session whose leader is gone a helper with its pid, made by the adopting parent', () => {
    const p = planBirths(planOf([[10, 0, 10, 10, 's'], [21, 10, 21, 20], [22, 10, 21, 20]]));
    expect(show(p)).toEqual(['10<0!@', '[20<10!]', '21<20+', '22<20']);
    expect(p.helpers.map((h) => h.pid)).toEqual([20]);
  });

  it('lets the helper of a gone session leader lead its group too', () => {
    const p = planBirths(planOf([[10, 0, 10, 10, 's'], [21, 10, 20, 20]]));
    expect(show(p)).toEqual(['10<0!@', '[20<10!]', '21<20']);
    expect(p.joins).toEqual([{ pid: 21, pgid: 20 }]);
    expect(p.helpers.map((h) => h.pid)).toEqual([20]);
  });

  it('gives an adopted member of a living session a helper with a free pid, made by the leader', () => {
    const p = planBirths(planOf([[10, 0, 10, 10, 's'], [20, 10, 20, 20], [21, 10, 20, 20]]));
    expect(show(p)).toEqual(['10<0!@', '20<10!', '[301<20]', '21<301']);
  });

  it('gives a group whose leader is gone a helper with its id, made by its first member', () => {
    const p = planBirths(planOf([[10, 0, 10, 10], [11, 10, 15, 10], [12, 10, 15, 10]]));
    expect(show(p)).toEqual(['10<0!', '11<10', '[15<11+]', '12<10']);
    expect(p.joins).toEqual([{ pid: 11, pgid: 15 }, { pid: 12, pgid: 15 }]);
    expect(p.helpers.map((h) => h.pid)).toEqual([15]);
  });

  it('refuses what no birth order can make', () => {
    // Adopted by a parent that is no subreaper.
    expect(refusal([[10, 0, 10, 10], [20, 10, 20, 20, 'z'], [21, 10, 20, 20]])).toMatch(/Task 21 .*adopted.*no task above/);
    // A group led by a task of another session.
    expect(refusal([[10, 0, 10, 10], [20, 10, 20, 20], [21, 10, 20, 10]])).toMatch(/Task 21 .*led by task 20 of another session/);
    // A session leader in another task's group.
    expect(refusal([[10, 0, 10, 10], [20, 10, 10, 20]])).toMatch(/Task 20 .*leads session 20 but is in process group 10/);
  });
});

/**
 * How the tree is born so that every task ends in its own session and process group
 * (pstree.img's sid and pgid): who clones each task, whether before or after that creator's own
 * `setsid()`, which tasks call `setsid()` or `setpgid(0, 0)`, which join a group once every task
 * exists, and which helper processes are needed on the way. Pure: it reads the plan and decides;
 * src/restore/tree.ts does it.
 *
 * A task keeps the session it is born in unless it calls setsid(), and only a session leader
 * can leave its session; so each task must be born inside its session. The cases, as CRIU sorts
 * them (criu/pstree.c, prepare_pstree_ids):
 *
 *  - its parent is in that session (or the task leads its own): the parent clones it;
 *  - its parent was born in that session, made it, then called setsid() (so did each ancestor up
 *    to the session's leader): each of them is born in that session ("born sid") and makes the
 *    children of that session before its own setsid();
 *  - it was adopted: its parent is a child subreaper that took it over when the task that made it
 *    died. Then something in that session makes it and goes away: the session leader itself when
 *    it is a zombie of the tree (it dies at the end, as it did); a helper cloned by the living
 *    leader; or, when the leader is gone, a helper with the leader's pid that calls setsid().
 *    The orphan falls to the nearest child subreaper above what made it, which must be its
 *    parent in the image (that parent is made a subreaper at birth).
 *
 * Process groups: a group leader calls setpgid(0, 0) (a session leader leads its group already);
 * every other task joins its group with setpgid(0, pgid) once all tasks exist (a zombie leader is
 * still alive then: zombies die last). A group whose leader is gone gets a helper with the
 * group's id, cloned by its first member; members join it, then it exits and that member reaps it.
 *
 * Helpers of a session whose leader lives take a free pid (the lowest above 300 the tree does not
 * use, as CRIU picks them).
 */
import { RestoreError } from './errors.js';
import type { RestorePlan, TaskPlan } from './plan.js';

/** One process to create. */
export interface Birth {
  /** Its pid (in the images; a helper's is chosen). */
  pid: number;
  /** The task, or undefined for a helper. */
  task: TaskPlan | undefined;
  /** Why a helper exists (for messages). */
  helper?: string;
  /** Who clones it: a pid of this plan, or 0 for the root (cloned by the seed or the namespace init). */
  creator: number;
  /** Made before its creator's own setsid() (it belongs to the session the creator was born in). */
  early: boolean;
  /** Calls setsid() once born. */
  setsid: boolean;
  /** Calls setpgid(0, 0) once born (a group leader that leads no session). */
  ownGroup: boolean;
  /** Becomes a child subreaper once born: orphans of helpers or zombies must come to it. */
  adopts: boolean;
}

/** The whole birth of the tree. */
export interface BirthPlan {
  /** In creation order: every creator before what it creates. */
  births: Birth[];
  /** `setpgid(0, pgid)` in task `pid`, once every process exists. */
  joins: Array<{ pid: number; pgid: number }>;
  /** Helpers to end once the joins are done (last made first), each reaped by its creator. */
  helpers: Birth[];
}

/** The lowest pid helpers may take (CRIU's RESERVED_PIDS). */
const FIRST_HELPER_PID = 301;

function unsupported(task: TaskPlan, why: string): never {
  throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid} (pstree.img): ${why}`, { pid: task.pid, image: 'pstree.img' });
}

/**
 * Decides the birth of `plan`'s tree; throws RESTORE_UNSUPPORTED for a session or group layout
 * it cannot make. `isFree(pid)` tells whether a pid may be given to a helper (beyond the tree's).
 */
export function planBirths(plan: RestorePlan, isFree: (pid: number) => boolean = () => true): BirthPlan {
  const used = new Set(plan.tasks.flatMap((t) => t.threads.map((th) => th.tid)));
  const byPid = new Map<number, Birth>();
  const bornSid = new Map<number, number>();
  const add = (b: Birth) => {
    byPid.set(b.pid, b);
    used.add(b.pid);
    return b;
  };
  for (const task of plan.tasks) {
    const setsid = task.sid === task.pid;
    add({ pid: task.pid, task, creator: task === plan.root ? 0 : task.ppid, early: false, setsid, ownGroup: !setsid && task.pgid === task.pid, adopts: false });
  }
  const freePid = () => {
    let pid = FIRST_HELPER_PID;
    while (used.has(pid) || !isFree(pid)) pid++;
    return pid;
  };
  const sessionHelpers = new Map<string, Birth>();

  // Sessions: who makes each task, and the born sids of the ancestors that make it early.
  for (const task of plan.tasks) {
    if (task === plan.root || task.sid === task.pid) continue;
    const parent = plan.byPid.get(task.ppid)!;
    if (parent.sid === task.sid) continue;
    if (bornInChain(plan, task, bornSid)) continue;
    const leader = plan.byPid.get(task.sid);
    const me = byPid.get(task.pid)!;
    let dying: Birth;
    if (leader?.zombie) {
      me.creator = leader.pid;
      dying = byPid.get(leader.pid)!;
    } else {
      const key = `${task.sid}:${leader === undefined ? parent.pid : leader.pid}`;
      let helper = sessionHelpers.get(key);
      if (helper === undefined) {
        helper = leader === undefined
          ? add({ pid: task.sid, task: undefined, helper: `the leader of session ${task.sid}`, creator: parent.pid, early: false, setsid: true, ownGroup: false, adopts: false })
          : add({ pid: freePid(), task: undefined, helper: `a member of session ${task.sid}`, creator: leader.pid, early: false, setsid: false, ownGroup: false, adopts: false });
        if (leader === undefined && !isFree(task.sid)) {
          throw new RestoreError('PID_TAKEN', `PID ${task.sid} is in use on this machine, and the helper that leads session ${task.sid} of task ${task.pid} needs it`, { pid: task.sid, image: 'pstree.img' });
        }
        sessionHelpers.set(key, helper);
      }
      me.creator = helper.pid;
      dying = helper;
    }
    const reaper = reaperOf(byPid, dying);
    if (reaper !== parent.pid) {
      unsupported(task, `it is in session ${task.sid} but its parent ${parent.pid} is not: it was adopted, yet ${reaper === undefined ? 'no task above' : `task ${reaper}, not its parent,`} is the nearest child subreaper above what must make it`);
    }
    byPid.get(parent.pid)!.adopts = true;
  }

  // Groups: leaders call setpgid(0, 0); members join; a missing leader gets a helper.
  const joins: BirthPlan['joins'] = [];
  const groupHelpers = new Map<number, Birth>();
  for (const task of plan.tasks) {
    // The root's session and group are the shell's or its own (src/restore/support.ts).
    if (task === plan.root || task.pgid === task.pid) continue;
    // --shell-job: criu-ts's own group, which the tree joins (src/restore/shell_job.ts).
    if (task.pgid === plan.shellJob?.pgid) {
      joins.push({ pid: task.pid, pgid: task.pgid });
      continue;
    }
    if (task.sid === task.pid) unsupported(task, `it leads session ${task.sid} but is in process group ${task.pgid}, which the kernel does not allow`);
    const leader = plan.byPid.get(task.pgid);
    if (leader !== undefined && leader.sid !== task.sid) unsupported(task, `its process group ${task.pgid} is led by task ${leader.pid} of another session (${leader.sid})`);
    // A helper that leads the session leads its group too.
    const helper = byPid.get(task.pgid);
    if (leader === undefined && (helper === undefined || helper.task !== undefined || !helper.setsid) && !groupHelpers.has(task.pgid)) {
      if (used.has(task.pgid) || !isFree(task.pgid)) {
        throw new RestoreError('PID_TAKEN', `PID ${task.pgid} is in use, and the helper that leads process group ${task.pgid} of task ${task.pid} needs it`, { pid: task.pgid, image: 'pstree.img' });
      }
      groupHelpers.set(task.pgid, add({ pid: task.pgid, task: undefined, helper: `the leader of process group ${task.pgid}`, creator: task.pid, early: false, setsid: false, ownGroup: true, adopts: false }));
    }
    joins.push({ pid: task.pid, pgid: task.pgid });
  }

  const births = order(plan, byPid, bornSid);
  return { births, joins, helpers: births.filter((b) => b.task === undefined).reverse() };
}

/**
 * The born-sid case: each ancestor from the parent up to the first one in `task`'s session is a
 * session leader that can be born in that session (then made `task`'s line before its setsid()).
 * Records their born sids; false (nothing recorded) when the chain does not get there.
 */
function bornInChain(plan: RestorePlan, task: TaskPlan, bornSid: Map<number, number>): boolean {
  const chain: number[] = [];
  let x = plan.byPid.get(task.ppid);
  for (; x !== undefined && x.sid !== task.sid; x = plan.byPid.get(x.ppid)) {
    if (x === plan.root || x.sid !== x.pid) return false;
    const had = bornSid.get(x.pid);
    if (had !== undefined && had !== task.sid) {
      unsupported(task, `its ancestor ${x.pid} would have to be born in sessions ${had} and ${task.sid} at once`);
    }
    chain.push(x.pid);
  }
  if (x === undefined || chain.length === 0) return false;
  for (const pid of chain) bornSid.set(pid, task.sid);
  return true;
}

/**
 * The task an orphan of `dying` falls to: the nearest child subreaper of the image above it (for a
 * helper, starting at its creator, which is alive; for a zombie, at its parent).
 */
function reaperOf(byPid: Map<number, Birth>, dying: Birth): number | undefined {
  const up = (b: Birth) => (b.task === undefined ? b.creator : b.task.ppid);
  for (let pid = up(dying); pid !== 0; ) {
    const b = byPid.get(pid);
    if (b === undefined) return undefined;
    if (b.task?.threads[0]!.core.tc?.child_subreaper) return pid;
    pid = up(b);
  }
  return undefined;
}

/**
 * Creation order, depth first from the root: a creator, then what it makes before its setsid
 * (those of the session it was born in), then the rest. Also fills `early`, and checks that each
 * process can be born in the session it needs.
 */
function order(plan: RestorePlan, byPid: Map<number, Birth>, bornSid: Map<number, number>): Birth[] {
  const made = new Map<number, Birth[]>();
  for (const b of byPid.values()) if (b.creator !== 0) made.set(b.creator, [...(made.get(b.creator) ?? []), b]);
  const finalSid = (b: Birth): number => (b.setsid ? b.pid : b.task?.sid ?? birthSid(b));
  const birthSid = (b: Birth): number => {
    if (b.creator === 0) return 0; // the root: born outside the tree
    if (b.task !== undefined && !b.setsid) return b.task.sid;
    return bornSid.get(b.pid) ?? finalSid(byPid.get(b.creator)!);
  };
  const out: Birth[] = [];
  const visit = (b: Birth) => {
    out.push(b);
    const mine = made.get(b.pid) ?? [];
    for (const c of mine) {
      const need = birthSid(c);
      if (need === finalSid(b)) c.early = false;
      else if (b.setsid && need === birthSid(b)) c.early = true;
      else unsupported(c.task ?? plan.byPid.get(b.pid)!, `${c.task === undefined ? `its helper ${c.pid}` : 'it'} must be born in session ${need}, where ${b.pid}, which makes it, never is`);
    }
    for (const c of mine.filter((x) => x.early)) visit(c);
    for (const c of mine.filter((x) => !x.early)) visit(c);
  };
  visit(byPid.get(plan.root.pid)!);
  if (out.length !== byPid.size) throw new RestoreError('RESTORE_FAILED', `The birth order reaches ${out.length} of ${byPid.size} processes`, { image: 'pstree.img' });
  return out;
}

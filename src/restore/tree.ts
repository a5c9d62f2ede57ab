/**
 * The tree with its original PIDs: each process is cloned by the process src/restore/births.ts
 * names (its parent, or whatever must make it inside its session), with a remote `clone3` whose
 * `set_tid` names the PID (the PID in the restore's own PID namespace with --unshare pid). The new
 * process is attached to us by the kernel (`PTRACE_O_TRACEFORK`), whose event names its PID on
 * this machine, and waits in its first stop.
 *
 * Sessions and groups as births.ts decides: a creator makes the children of the session it was
 * born in, then calls `setsid()` (or `setpgid(0, 0)`, or becomes a child subreaper), then makes
 * the rest; once every process exists the members join their groups, and the helpers exit, each
 * reaped by the process that made it (a remote `wait4`), their orphans falling to the subreaper
 * parents the image has. Threads come later, from their own task (src/restore/threads.ts).
 */
import { Tracee } from '../ptrace/index.js';
import { readStat } from '../proc/index.js';
import { withRemote, type RemoteSyscalls } from '../remote/index.js';
import { CLONE_ARGS, CLONE_ARGS_SIZE, encodeCloneArgs, errnoName, PR, PTRACE_EVENT, SIG } from '../sys/index.js';
import { planBirths, type Birth } from './births.js';
import { RestoreError } from './errors.js';
import type { RestorePlan, TaskPlan } from './plan.js';
import type { TaskRegistry } from './registry.js';
import { shareFlags } from './shared.js';
import { exitNow } from './zombies.js';

/** A task of the tree as it is being restored. */
export interface LiveTask {
  plan: TaskPlan;
  /** Its main thread, stopped (`leader.pid` is its PID on this machine). */
  leader: Tracee;
  /** Every thread, the leader first (threads are added by src/restore/threads.ts). */
  threads: Tracee[];
}

/** Options of tree creation. */
export interface TreeOptions {
  timeoutMs?: number;
  log?: (message: string) => void;
  /** The init of the restore's PID namespace (--unshare pid): it clones the root. */
  init?: Tracee;
  /** May a helper take this PID? (With a namespace of our own, any PID the tree does not use.) */
  isFree?: (pid: number) => boolean;
}

const WALL = 0x40000000;
/** A hint given with every PID_TAKEN. */
export const UNSHARE_HINT = 'restore with --unshare pid to give the tree a PID namespace of its own';

/** Creates every task of `plan` under `seed` (stopped); returns them by pid. */
export function createTree(plan: RestorePlan, seed: Tracee, registry: TaskRegistry, opts?: TreeOptions): Map<number, LiveTask> {
  const births = planBirths(plan, opts?.isFree);
  const procs = new Map<number, Tracee>();
  const live = new Map<number, LiveTask>();
  const top = opts?.init ?? seed;
  const hasEarly = new Set(births.births.filter((b) => b.early).map((b) => b.creator));
  const waiting = new Map<number, Birth>();
  const settle = (b: Birth) => {
    waiting.delete(b.pid);
    settleBirth(b, procs.get(b.pid)!);
  };
  for (const b of births.births) {
    const pending = waiting.get(b.creator);
    if (pending !== undefined && !b.early) settle(pending);
    const creator = b.creator === 0 ? top : procs.get(b.creator)!;
    const flags = b.task === undefined ? 0n : shareFlags(plan, b.task);
    const t = cloneProcess(creator, b.pid, registry, { flags, ...(opts?.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
    procs.set(b.pid, t);
    if (b.task !== undefined) live.set(b.pid, { plan: b.task, leader: t, threads: [t] });
    const by = b.creator === 0 ? (opts?.init ? `the namespace's init ${top.pid}` : `the seed ${top.pid}`) : `${b.creator}${b.early ? ' before its setsid' : ''}`;
    opts?.log?.(`${b.task === undefined ? `helper ${b.pid} (${b.helper})` : `task ${b.pid}`}: created by ${by}${t.pid === b.pid ? '' : `, PID ${t.pid} on this machine`}`);
    if (hasEarly.has(b.pid)) waiting.set(b.pid, b);
    else settle(b);
  }
  for (const b of [...waiting.values()]) settle(b);
  for (const { pid, pgid } of births.joins) {
    const t = procs.get(pid)!;
    if (readStat(t.pid).pgid === procs.get(pgid)!.pid) continue;
    withRemote(t, (r) => checked(r, pid, 'setpgid', [0, pgid]));
  }
  for (const h of births.helpers) endHelper(h, procs, registry);
  if (births.helpers.length > 0) opts?.log?.(`helpers ${births.helpers.map((h) => h.pid).join(', ')}: exited and reaped`);
  return live;
}

/** After its birth (and the children of the session it was born in): setsid, own group, subreaper. */
function settleBirth(b: Birth, t: Tracee): void {
  if (!b.setsid && !b.ownGroup && !b.adopts) return;
  withRemote(t, (r) => {
    if (b.setsid) checked(r, b.pid, 'setsid', []);
    else if (b.ownGroup) checked(r, b.pid, 'setpgid', [0, 0]);
    if (b.adopts) checked(r, b.pid, 'prctl', [PR.SET_CHILD_SUBREAPER, 1, 0, 0, 0]);
  });
}

function checked(r: RemoteSyscalls, pid: number, name: 'setsid' | 'setpgid' | 'prctl', args: number[]): void {
  const res = r.call(name, ...args);
  if (!res.ok) throw new RestoreError('RESTORE_FAILED', `Task ${pid}: ${name}(${args.join(', ')}) failed: ${res.code}`, { pid, image: 'pstree.img', step: 'set its session and process group' });
}

/** A helper exits (`exit_group(0)`), and the process that made it reaps it (remote `wait4`). */
function endHelper(h: Birth, procs: Map<number, Tracee>, registry: TaskRegistry): void {
  const t = procs.get(h.pid)!;
  exitNow(t, { code: 0 });
  const reaper = procs.get(h.creator)!;
  const res = withRemote(reaper, (r) => r.call('wait4', h.pid, 0, WALL, 0));
  if (!res.ok || Number(res.value) !== h.pid) {
    throw new RestoreError('RESTORE_FAILED', `Helper ${h.pid} (${h.helper}) was not reaped by ${h.creator}: ${res.ok ? `wait4 gave ${res.value}` : res.code}`, { pid: h.pid, step: 'end the helpers' });
  }
  registry.forget(t.pid);
}

/**
 * Remote `clone3({flags, exit_signal: SIGCHLD, set_tid: [pid]}, 88)` in `parent` (the argument
 * block in a scratch page), then the child adopted (under the PID the fork event gives, which is
 * `pid` unless the tree has a PID namespace of its own) and waited for in its first stop. `flags`
 * are the objects it shares with its parent (CLONE_FILES, CLONE_FS: src/restore/shared.ts).
 */
export function cloneProcess(parent: Tracee, pid: number, registry: TaskRegistry, opts?: { flags?: bigint; timeoutMs?: number }): Tracee {
  const timeoutMs = opts?.timeoutMs ?? 10_000;
  const got = withRemote(parent, (r) => {
    const page = BigInt(parent.arch.pageSize());
    const scratch = r.mmap(page);
    try {
      parent.writeMemory(scratch, encodeCloneArgs({ flags: opts?.flags ?? 0n, exitSignal: SIG.CHLD, setTid: [pid] }, { setTidAddr: scratch + BigInt(CLONE_ARGS.size) }));
      return { res: r.call('clone3', scratch, CLONE_ARGS_SIZE.VER2), born: [...r.newTasks] };
    } finally {
      r.munmap(scratch, page);
    }
  });
  if (!got.res.ok) {
    if (got.res.code === 'EEXIST') throw new RestoreError('PID_TAKEN', `PID ${pid} was taken while the tree was being created (clone3 with set_tid: EEXIST): ${UNSHARE_HINT}`, { pid, image: 'pstree.img' });
    throw new RestoreError('RESTORE_FAILED', `Task ${pid}: clone3 in ${parent.name} failed: ${errnoName(got.res.errno)}`, { pid, image: 'pstree.img', step: 'create the task' });
  }
  const host = got.born[0];
  if (Number(got.res.value) !== pid || got.born.length !== 1 || host === undefined) {
    throw new RestoreError('RESTORE_FAILED', `Task ${pid}: clone3 in ${parent.name} made task ${got.res.value} (attached: ${got.born.join(', ') || 'none'})`, { pid, step: 'create the task' });
  }
  const child = Tracee.adopt(host, { pid: host });
  registry.addProcess(child);
  awaitBirth(child, timeoutMs);
  return child;
}

/** Waits for a new task's (or thread's) first stop: `PTRACE_EVENT_STOP`. */
export function awaitBirth(t: Tracee, timeoutMs = 10_000): void {
  for (;;) {
    const st = t.waitStop({ timeoutMs });
    if (st.kind === 'event' && st.event === PTRACE_EVENT.STOP) return;
    if (st.kind === 'exited' || st.kind === 'signaled') throw new RestoreError('RESTORE_FAILED', `${t.name} died at birth`, { pid: t.pid, step: 'create the task' });
    t.cont(0);
  }
}

/**
 * Once zombies are zombies again: every task's parent is the one the image names (the root's is
 * whatever started the restore). Catches an orphan that fell to another subreaper than planned.
 */
export function checkParents(plan: RestorePlan, live: Map<number, LiveTask>): void {
  for (const task of plan.tasks) {
    if (task === plan.root) continue;
    const want = live.get(task.ppid)!.leader.pid;
    const got = readStat(live.get(task.pid)!.leader.pid).ppid;
    if (got !== want) throw new RestoreError('RESTORE_FAILED', `Task ${task.pid} ended with parent ${got} on this machine, not ${task.ppid} (${want})`, { pid: task.pid, image: 'pstree.img', step: 'check the tree' });
  }
}

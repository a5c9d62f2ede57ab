/**
 * The tree with its original PIDs: each task is cloned by its own parent (the root by the seed)
 * with a remote `clone3` whose `set_tid` names the PID, so parent links are right from birth. The
 * new task is attached to us by the kernel (`PTRACE_O_TRACEFORK`) and waits in its first stop.
 * Sessions and process groups follow pstree.img: a session leader calls `setsid()` before it has
 * children, a group leader `setpgid(0, 0)`, and the other members join their group once every
 * task exists. Threads come later, from their own task (src/restore/threads.ts).
 */
import { Tracee } from '../ptrace/index.js';
import { readStat } from '../proc/index.js';
import { withRemote, type RemoteSyscalls } from '../remote/index.js';
import { CLONE_ARGS, CLONE_ARGS_SIZE, encodeCloneArgs, errnoName, PTRACE_EVENT, SIG } from '../sys/index.js';
import { RestoreError } from './errors.js';
import type { RestorePlan, TaskPlan } from './plan.js';
import type { TaskRegistry } from './registry.js';
import { shareFlags } from './shared.js';

/** A task of the tree as it is being restored. */
export interface LiveTask {
  plan: TaskPlan;
  /** Its main thread, stopped. */
  leader: Tracee;
  /** Every thread, the leader first (threads are added by src/restore/threads.ts). */
  threads: Tracee[];
}

/** Options of tree creation. */
export interface TreeOptions {
  timeoutMs?: number;
  log?: (message: string) => void;
}

/** Creates every task of `plan` under `seed` (stopped, its first-born the root); returns them by pid. */
export function createTree(plan: RestorePlan, seed: Tracee, registry: TaskRegistry, opts?: TreeOptions): Map<number, LiveTask> {
  const live = new Map<number, LiveTask>();
  for (const task of plan.tasks) {
    const parent = task === plan.root ? seed : live.get(task.ppid)?.leader;
    if (parent === undefined) throw new RestoreError('RESTORE_FAILED', `Task ${task.pid}: its parent ${task.ppid} was not created`, { pid: task.pid, image: 'pstree.img' });
    const leader = cloneProcess(parent, task.pid, registry, { flags: shareFlags(plan, task), ...(opts?.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
    live.set(task.pid, { plan: task, leader, threads: [leader] });
    if (task.pid === task.sid) withRemote(leader, (r) => checked(r, task, 'setsid', []));
    else if (task.pid === task.pgid) withRemote(leader, (r) => checked(r, task, 'setpgid', [0, 0]));
    opts?.log?.(`task ${task.pid}: created by ${parent === seed ? `the seed ${seed.pid}` : `its parent ${task.ppid}`}`);
  }
  // Members of a group whose leader came later than them, or not from their line.
  for (const task of plan.tasks) {
    if (task.pid === task.pgid || task.pid === task.sid) continue;
    if (readStat(task.pid).pgid === task.pgid) continue;
    withRemote(live.get(task.pid)!.leader, (r) => checked(r, task, 'setpgid', [0, task.pgid]));
  }
  return live;
}

function checked(r: RemoteSyscalls, task: TaskPlan, name: 'setsid' | 'setpgid', args: number[]): void {
  const res = r.call(name, ...args);
  if (!res.ok) throw new RestoreError('RESTORE_FAILED', `Task ${task.pid}: ${name}(${args.join(', ')}) failed: ${res.code}`, { pid: task.pid, image: 'pstree.img', step: 'set its session and process group' });
}

/**
 * Remote `clone3({flags, exit_signal: SIGCHLD, set_tid: [pid]}, 88)` in `parent` (the argument
 * block in a scratch page), then the child adopted and waited for in its first stop. `flags` are
 * the objects it shares with its parent (CLONE_FILES, CLONE_FS: src/restore/shared.ts).
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
    if (got.res.code === 'EEXIST') throw new RestoreError('PID_TAKEN', `PID ${pid} was taken while the tree was being created (clone3 with set_tid: EEXIST)`, { pid, image: 'pstree.img' });
    throw new RestoreError('RESTORE_FAILED', `Task ${pid}: clone3 in ${parent.name} failed: ${errnoName(got.res.errno)}`, { pid, image: 'pstree.img', step: 'create the task' });
  }
  if (Number(got.res.value) !== pid || !got.born.includes(pid)) {
    throw new RestoreError('RESTORE_FAILED', `Task ${pid}: clone3 in ${parent.name} made task ${got.res.value} (attached: ${got.born.join(', ') || 'none'})`, { pid, step: 'create the task' });
  }
  const child = Tracee.adopt(pid, { pid });
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

/**
 * The threads of a task: remote `clone3({CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
 * CLONE_THREAD | CLONE_SYSVSEM, set_tid: [tid]})` in its leader, at the bootstrap's syscall site,
 * once the task's memory and files are in place. Each new thread is attached to us by the kernel
 * (`PTRACE_O_TRACECLONE`) and waits in its first stop for its own state (src/restore/switch.ts).
 */
import { Tracee } from '../ptrace/index.js';
import { withRemote } from '../remote/index.js';
import { CLONE, CLONE_ARGS, CLONE_ARGS_SIZE, encodeCloneArgs, errnoName } from '../sys/index.js';
import type { Bootstrap } from './bootstrap.js';
import { RestoreError } from './errors.js';
import type { TaskRegistry } from './registry.js';
import { awaitBirth, UNSHARE_HINT, type LiveTask } from './tree.js';

const THREAD_FLAGS = CLONE.VM | CLONE.FS | CLONE.FILES | CLONE.SIGHAND | CLONE.THREAD | CLONE.SYSVSEM;

/** Creates every thread of `task` but its leader; appends them to `task.threads`. */
export function createThreads(task: LiveTask, boot: Bootstrap, registry: TaskRegistry, timeoutMs = 10_000): void {
  const extra = task.plan.threads.slice(1);
  if (extra.length === 0) return;
  const leader = task.leader;
  const args = boot.data; // the data part is free between batches
  withRemote(leader, (r) => {
    for (const t of extra) {
      const known = r.newTasks.length;
      leader.writeMemory(args, encodeCloneArgs({ flags: THREAD_FLAGS, setTid: [t.tid] }, { setTidAddr: args + BigInt(CLONE_ARGS.size) }));
      const res = r.call('clone3', args, CLONE_ARGS_SIZE.VER2);
      if (!res.ok) {
        if (res.code === 'EEXIST') throw new RestoreError('PID_TAKEN', `TID ${t.tid} (a thread of task ${task.plan.pid}) was taken while the task was restored: ${UNSHARE_HINT}`, { pid: t.tid, image: t.image });
        throw new RestoreError('RESTORE_FAILED', `Thread ${t.tid} of task ${task.plan.pid}: clone3 failed: ${errnoName(res.errno)}`, { pid: task.plan.pid, image: t.image, step: 'create its threads' });
      }
      // The clone event names the thread as this machine numbers it (another TID in a PID namespace of its own).
      const host = r.newTasks[known];
      if (Number(res.value) !== t.tid || host === undefined) throw new RestoreError('RESTORE_FAILED', `Thread ${t.tid} of task ${task.plan.pid}: clone3 made ${res.value}`, { pid: task.plan.pid, step: 'create its threads' });
      const thread = Tracee.adopt(host, { pid: leader.pid });
      registry.addThread(thread);
      task.threads.push(thread);
    }
  }, { site: boot.site });
  for (const thread of task.threads.slice(1)) awaitBirth(thread, timeoutMs);
}

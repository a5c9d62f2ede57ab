/**
 * Kernel objects tasks share between processes (ids-N.img): an fd table (files_id, CLONE_FILES)
 * or an fs struct — cwd, root, umask — (fs_id, CLONE_FS).
 *
 * As in CRIU, a shared object is shared again at birth: a task whose parent has the same id is
 * cloned by that parent with the clone flag, and only the first task of the group (the one whose
 * parent does not share it) fills the object in; the others find it filled. So every group must
 * hang together by parent links (CRIU restores only tables shared with the parent); a table
 * shared in another shape (two siblings whose parent has its own) is refused up front. Sharing
 * memory or signal handlers between processes (CLONE_VM, CLONE_SIGHAND, which needs CLONE_VM) is
 * not restored.
 */
import { imageFileName } from '../images/image_files.js';
import { CLONE } from '../sys/index.js';
import { RestoreError } from './errors.js';
import type { RestorePlan, TaskPlan } from './plan.js';

type Kind = 'files' | 'fs' | 'vm' | 'sighand';
const FIELD = { files: 'files_id', fs: 'fs_id', vm: 'vm_id', sighand: 'sighand_id' } as const;

function idOf(task: TaskPlan | undefined, kind: Kind): number | undefined {
  return task?.ids?.[FIELD[kind]];
}

/** Does `task` share its `kind` with its parent (then it is cloned with the flag and fills nothing)? */
export function sharesWithParent(plan: RestorePlan, task: TaskPlan, kind: 'files' | 'fs'): boolean {
  if (task === plan.root || task.zombie) return false;
  const parent = plan.byPid.get(task.ppid);
  return parent !== undefined && !parent.zombie && idOf(parent, kind) === idOf(task, kind);
}

/** The CLONE_FILES / CLONE_FS flags `task` is cloned with by its parent. */
export function shareFlags(plan: RestorePlan, task: TaskPlan): bigint {
  return (sharesWithParent(plan, task, 'files') ? CLONE.FILES : 0n) | (sharesWithParent(plan, task, 'fs') ? CLONE.FS : 0n);
}

/**
 * Throws RESTORE_UNSUPPORTED when two processes share their memory or signal handlers, or share
 * an fd table or fs struct other than through their parent.
 */
export function checkSharing(plan: RestorePlan): void {
  const first = new Map<string, TaskPlan>();
  for (const task of plan.tasks) {
    if (task.zombie) continue;
    const image = imageFileName('ids', task.pid);
    for (const kind of ['vm', 'sighand', 'files', 'fs'] as const) {
      const key = `${kind}:${idOf(task, kind)}`;
      const other = first.get(key);
      if (other === undefined) {
        first.set(key, task);
        continue;
      }
      if (kind === 'vm' || kind === 'sighand') {
        throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid} (${image}): it shares its ${kind === 'vm' ? 'memory' : 'signal handlers'} with task ${other.pid} (CLONE_${kind.toUpperCase()} between processes is not restored)`, { pid: task.pid, image });
      }
      if (!sharesWithParent(plan, task, kind)) {
        throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid} (${image}): it shares its ${kind === 'files' ? 'fd table' : 'fs (cwd, root, umask)'} with task ${other.pid} but not with its parent ${task.ppid}, so it cannot be cloned sharing it`, { pid: task.pid, image });
      }
    }
  }
}

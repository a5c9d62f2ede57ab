/**
 * Checks of the machine against a plan, before any task is created: every PID and TID the tree
 * needs is free (`PID_TAKEN`), and every regular file the images name exists with the size the
 * image says (`FILE_MISSING`, `FILE_CHANGED`: CRIU's check).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { imageFileName } from '../images/image_files.js';
import type { RegFileEntry } from '../images/generated/types.js';
import { VMA } from './constants.js';
import { RestoreError } from './errors.js';
import { remapsOf } from './files/ghost.js';
import type { RestorePlan, TaskPlan } from './plan.js';
import { UNSHARE_HINT } from './tree.js';

/** The highest PID this kernel hands out, plus one (`/proc/sys/kernel/pid_max`). */
export function pidMax(): number {
  return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
}

/**
 * `stat /proc/PID` — every PID and TID of the tree is free (a thread's TID shows there too). With
 * a PID namespace of the restore's own (`pidns`), only PID 1 is taken: by the namespace's init.
 */
export function checkPidsFree(plan: RestorePlan, opts?: { pidns?: boolean }): void {
  const max = pidMax();
  for (const task of plan.tasks) {
    for (const t of task.threads) {
      const who = t.tid === task.pid ? `task ${task.pid}` : `thread ${t.tid} of task ${task.pid}`;
      if (t.tid >= max) {
        throw new RestoreError('RESTORE_UNSUPPORTED', `PID ${t.tid} (${who}) is above this kernel's pid_max ${max}`, { pid: task.pid, image: 'pstree.img' });
      }
      if (opts?.pidns && t.tid === 1) {
        throw new RestoreError('RESTORE_UNSUPPORTED', `PID 1 (${who}) is the init of the new PID namespace: a tree that was a namespace's init cannot be restored with --unshare pid`, { pid: task.pid, image: 'pstree.img' });
      }
      if (!opts?.pidns && existsSync(`/proc/${t.tid}`)) {
        throw new RestoreError('PID_TAKEN', `PID ${t.tid} is in use on this machine, and ${who} needs it: ${UNSHARE_HINT}`, { pid: t.tid, image: 'pstree.img' });
      }
    }
  }
}

/** A regular file the restore will open, and who needs it. */
interface FileUse {
  reg: RegFileEntry;
  task: TaskPlan;
  as: string;
}

/** Every regular file a task needs: its exe, mapped files, open fds, cwd and root. */
function filesUsed(plan: RestorePlan): FileUse[] {
  const out: FileUse[] = [];
  // Files deleted while open come back from their ghost images (src/restore/files/ghost.ts).
  const ghosts = remapsOf(plan);
  const add = (task: TaskPlan, id: number, as: string) => {
    const reg = plan.files.get(id)?.reg;
    if (reg !== undefined && !ghosts.has(id)) out.push({ reg, task, as });
  };
  for (const task of plan.tasks) {
    if (task.zombie) continue;
    add(task, task.mm!.exe_file_id, 'its executable');
    for (const vma of task.mm!.vmas ?? []) {
      if (vma.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) add(task, Number(vma.shmid), `the area at 0x${vma.start.toString(16)}`);
    }
    for (const fd of task.fds!) {
      add(task, fd.id, `fd ${fd.fd}`);
      const fifo = plan.files.get(fd.id)?.fifo;
      if (fifo?.regf_id !== undefined) add(task, fifo.regf_id, `fd ${fd.fd} (a fifo)`);
    }
    add(task, task.fs!.cwd_id, 'its working directory');
    add(task, task.fs!.root_id, 'its root');
  }
  return out;
}

const S_IFMT = 0o170000;
const TYPE_NAMES: Record<number, string> = { 0o100000: 'a regular file', 0o040000: 'a directory', 0o010000: 'a fifo', 0o020000: 'a character device', 0o060000: 'a block device' };

/**
 * `stat(path)` — each file exists; a regular file has the size its image says (CRIU refuses a
 * changed size: a mapped library of another size is another library).
 */
export function checkFiles(plan: RestorePlan): void {
  const checked = new Set<number>();
  for (const use of filesUsed(plan)) {
    if (checked.has(use.reg.id)) continue;
    checked.add(use.reg.id);
    const path = use.reg.name;
    let st;
    try {
      st = statSync(path, { bigint: true });
    } catch (err) {
      throw new RestoreError('FILE_MISSING', `${path} (${use.as} of task ${use.task.pid}) cannot be found: ${(err as Error).message}`, { pid: use.task.pid, image: imageFileName('files'), path, cause: err });
    }
    const type = use.reg.mode === undefined ? undefined : use.reg.mode & S_IFMT;
    if (type !== undefined && Number(st.mode & BigInt(S_IFMT)) !== type) {
      const kind = TYPE_NAMES[type] ?? `a file of type 0o${type.toString(8)}`;
      throw new RestoreError('FILE_CHANGED', `${path} (${use.as} of task ${use.task.pid}) was ${kind} and is not one now`, { pid: use.task.pid, image: imageFileName('files'), path });
    }
    if (use.reg.size !== undefined && st.isFile() && st.size !== use.reg.size) {
      throw new RestoreError('FILE_CHANGED', `${path} (${use.as} of task ${use.task.pid}) has size ${st.size}, the image says ${use.reg.size}`, { pid: use.task.pid, image: imageFileName('files'), path });
    }
  }
}

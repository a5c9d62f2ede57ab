/** Which task and fd hold a file of the images: what an opener names when it fails. */
import type { RestorePlan } from '../plan.js';

/** The first task (in pstree order) and fd that hold file `id`, for messages (`Task 42, fd 3`). */
export function holder(plan: RestorePlan, id: number): { pid: number | undefined; text: string } {
  for (const task of plan.tasks) {
    const fd = task.fds?.find((f) => f.id === id);
    if (fd !== undefined) return { pid: task.pid, text: `Task ${task.pid}, fd ${fd.fd}` };
  }
  return { pid: undefined, text: `File ${id}` };
}

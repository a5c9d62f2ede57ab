/**
 * The /proc facts the ptrace layer needs (a task's state and tracer, its threads, its children),
 * read through `src/proc` but tolerant: tasks vanish under a freeze all the time, so a task that is
 * gone gives null or an empty list instead of a `PROC_GONE` error.
 */

import { listChildren, listThreads, readStatus } from '../proc/index.js';
import { CriuTsError } from '../errors.js';

/** The fields of /proc/TID/status the ptrace layer reads. */
export interface TaskStatus {
  /** The state letter: R, S, D, T (stopped), t (traced), Z (zombie), X, I. */
  state: string;
  /** The thread group (process) id. */
  tgid: number;
  /** The parent process. */
  ppid: number;
  /** The process tracing this thread, 0 when none. */
  tracerPid: number;
}

function gone<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CriuTsError && err.code === 'PROC_GONE') return fallback;
    throw err;
  }
}

/** /proc/TID/status (any thread's, by its tid); null when the task is gone. */
export function readTaskStatus(tid: number): TaskStatus | null {
  return gone(() => {
    const s = readStatus(tid);
    return { state: s.state, tgid: s.tgid, ppid: s.ppid, tracerPid: s.tracerPid };
  }, null);
}

/** The thread ids of a process; empty when it is gone. */
export function threadsOf(pid: number): number[] {
  return gone(() => listThreads(pid), []);
}

/** The children of one thread (/proc/PID/task/TID/children); empty when it is gone. */
export function childrenOf(pid: number, tid: number): number[] {
  return gone(() => listChildren(pid, tid), []);
}

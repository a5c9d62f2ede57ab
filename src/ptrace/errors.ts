/**
 * Errors of the ptrace layer. `code` is stable and is what callers and tests match on:
 *
 * - `PTRACE_BUSY`: the task is already traced by another process (`tracerPid` names it).
 * - `PTRACE_DENIED`: the kernel refused to trace it for another reason (EPERM).
 * - `TASK_GONE`: the task does not exist, or is a zombie, when we start on it.
 * - `TASK_DIED`: the task died while we worked on it (`status` says how, when we saw it).
 * - `STOP_TIMEOUT`: the task did not stop in time after `PTRACE_INTERRUPT`.
 * - `UNEXPECTED_STOP`: the task stopped in a way the operation did not expect.
 * - `NOT_STOPPED`: the operation needs a task stopped by us, and it is not.
 *
 * A failed system call that none of these explains stays a `SysError` (its `code` is the errno name).
 */

import { CriuTsError } from '../errors.js';
import { SysError, type WaitStatus } from '../sys/index.js';
import { readTaskStatus } from './procfs.js';

/** The stable codes of {@link PtraceError}. */
export type PtraceErrorCode = 'PTRACE_BUSY' | 'PTRACE_DENIED' | 'TASK_GONE' | 'TASK_DIED' | 'STOP_TIMEOUT' | 'UNEXPECTED_STOP' | 'NOT_STOPPED';

/** What a {@link PtraceError} is made of. */
export interface PtraceErrorInit {
  /** The thread the error is about. */
  tid: number;
  /** Its process (thread group), when known. */
  pid?: number;
  /** The process tracing it, for `PTRACE_BUSY`. */
  tracerPid?: number;
  /** How it ended or stopped, when a wait told us. */
  status?: WaitStatus;
  cause?: unknown;
}

/** An error of the ptrace layer, naming the task. */
export class PtraceError extends CriuTsError {
  declare readonly code: PtraceErrorCode;
  readonly tid: number;
  readonly pid: number | undefined;
  readonly tracerPid: number | undefined;
  readonly status: WaitStatus | undefined;

  constructor(code: PtraceErrorCode, message: string, init: PtraceErrorInit) {
    super(code, message, init.cause === undefined ? undefined : { cause: init.cause });
    this.tid = init.tid;
    this.pid = init.pid;
    this.tracerPid = init.tracerPid;
    this.status = init.status;
  }
}

/** True when `err` is a {@link PtraceError}, with that code if one is given. */
export function isPtraceError(err: unknown, code?: PtraceErrorCode): err is PtraceError {
  return err instanceof PtraceError && (code === undefined || err.code === code);
}

/** `task 123` or `thread 124 of task 123`, for messages. */
export function taskName(tid: number, pid?: number): string {
  return pid === undefined || pid === tid ? `task ${tid}` : `thread ${tid} of task ${pid}`;
}

/**
 * Explains a failed `PTRACE_SEIZE` from /proc: ESRCH or gone is `TASK_GONE`; EPERM on a zombie is
 * `TASK_GONE`, on a thread someone traces is `PTRACE_BUSY` (naming the tracer), else `PTRACE_DENIED`.
 */
export function explainSeizeFailure(err: unknown, tid: number, pid: number): unknown {
  if (!(err instanceof SysError)) return err;
  const name = taskName(tid, pid);
  const status = readTaskStatus(tid);
  if (err.code === 'ESRCH' || status === null) return new PtraceError('TASK_GONE', `Cannot seize ${name}: it does not exist`, { tid, pid, cause: err });
  if (err.code !== 'EPERM') return err;
  if (status.state === 'Z' || status.state === 'X') return new PtraceError('TASK_GONE', `Cannot seize ${name}: it is a zombie`, { tid, pid, cause: err });
  if (status.tracerPid !== 0) {
    const who = status.tracerPid === process.pid ? 'this process' : `process ${status.tracerPid}`;
    return new PtraceError('PTRACE_BUSY', `Cannot seize ${name}: it is already traced by ${who}`, { tid, pid, tracerPid: status.tracerPid, cause: err });
  }
  return new PtraceError('PTRACE_DENIED', `Cannot seize ${name}: ${err.message}`, { tid, pid, cause: err });
}

/**
 * Waiting for one tracee's next report, and the counters `bench/` and test logs print ("performance
 * is counted"): stops seen and resumptions made.
 */

import { syscall, wait4, WAIT, type WaitResult } from '../sys/index.js';

/** Counters for `bench/` and test logs: how many stops we waited for and requests we made. */
export interface PtraceStats {
  /** Stops and exits reported by wait4 for our tracees. */
  stops: number;
  /** Resumptions (CONT/DETACH). */
  resumes: number;
}

const stats: PtraceStats = { stops: 0, resumes: 0 };

/** A copy of the counters since start or the last reset. */
export function ptraceStats(): PtraceStats {
  return { ...stats };
}

/** Sets the counters back to zero. */
export function resetPtraceStats(): void {
  stats.stops = 0;
  stats.resumes = 0;
}

/** @internal */
export function countStop(): void {
  stats.stops++;
}

/** @internal */
export function countResume(): void {
  stats.resumes++;
}

const SPIN_POLLS = 16;

/**
 * `wait4(tid, &status, __WALL | WNOHANG, NULL)` with `sched_yield()` between tries a few times, then
 * polled with sleeps until `timeoutMs` (a `SysError` ETIMEDOUT after that). The first tries catch a
 * stop that follows a resume by microseconds (a remote syscall) without sleeping a timer slack.
 */
export function waitForTid(tid: number, timeoutMs: number, what: string): WaitResult {
  for (let i = 0; i < SPIN_POLLS; i++) {
    const got = wait4(tid, { flags: WAIT.ALL | WAIT.NOHANG, what });
    if (got !== null) return got;
    syscall('sched_yield');
  }
  return wait4(tid, { flags: WAIT.ALL, timeoutMs, what })!;
}

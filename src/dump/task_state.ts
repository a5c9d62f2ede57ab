/**
 * Per-task and per-thread state read from outside the task (no parasite needed): credentials,
 * resource limits, scheduling, loginuid, oom_score_adj, the task flags of /proc/PID/stat.
 */
import { readFileSync } from 'node:fs';
import type { CredsEntry, RlimitEntry } from '../images/generated/types.js';
import { readLimits, readStatus } from '../proc/index.js';
import { syscall } from '../sys/index.js';

const PRIO_PROCESS = 0;
const SCHED_FIFO = 1;
const SCHED_RR = 2;

/** Splits a 64-bit capability set into CRIU's two 32-bit words, low first. */
function capWords(set: bigint): number[] {
  return [Number(set & 0xffffffffn), Number(set >> 32n)];
}

/** A thread's credentials, as creds_entry (secbits come from inside the task: pass them in). */
export function readCreds(pid: number, tid: number, opts: { secbits?: number } = {}): CredsEntry {
  const s = readStatus(pid, tid);
  const creds: CredsEntry = {
    uid: s.uids[0], euid: s.uids[1], suid: s.uids[2], fsuid: s.uids[3],
    gid: s.gids[0], egid: s.gids[1], sgid: s.gids[2], fsgid: s.gids[3],
    cap_inh: capWords(s.capInh),
    cap_prm: capWords(s.capPrm),
    cap_eff: capWords(s.capEff),
    cap_bnd: capWords(s.capBnd),
    secbits: opts.secbits ?? 0,
    cap_amb: capWords(s.capAmb),
  };
  if (s.groups.length > 0) creds.groups = s.groups;
  return creds;
}

/** Every resource limit of a task, in RLIMIT_* order, from /proc/PID/limits (no prlimit needed). */
export function readRlimits(pid: number): RlimitEntry[] {
  return readLimits(pid).map((l) => ({ cur: l.soft, max: l.hard }));
}

export interface SchedState {
  sched_policy: number;
  sched_nice: number;
  /** Real-time priority, for SCHED_FIFO and SCHED_RR only. */
  sched_prio?: number;
}

/** `sched_getscheduler(tid)`, `getpriority(PRIO_PROCESS, tid)` and the RT priority of a thread. */
export function readSched(tid: number): SchedState {
  const policy = Number(syscall('sched_getscheduler', tid)) & 0xff; // without SCHED_RESET_ON_FORK
  // The raw syscall returns 20 - nice (so that it is never negative).
  const nice = 20 - Number(syscall('getpriority', PRIO_PROCESS, tid));
  const state: SchedState = { sched_policy: policy, sched_nice: nice };
  if (policy === SCHED_FIFO || policy === SCHED_RR) {
    const param = new Int32Array(1);
    syscall('sched_getparam', tid, param);
    state.sched_prio = param[0]!;
  }
  return state;
}

function readNumber(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/** `/proc/PID/loginuid` (4294967295 when unset). */
export function readLoginuid(pid: number): number {
  return readNumber(`/proc/${pid}/loginuid`);
}

/** `/proc/PID/oom_score_adj`. */
export function readOomScoreAdj(pid: number): number {
  return readNumber(`/proc/${pid}/oom_score_adj`);
}

/**
 * A thread's core image (core-TID.img) from what the dump gathered: the arch's thread state,
 * the task-wide part for the leader (state, flags, timers, rlimits, sigactions, shared pending
 * signals) and the per-thread part (scheduling, altstack, creds, mask, pending signals, rseq).
 */
import type { CoreImageArch, ThreadRegisters } from '../../arch/core_image.js';
import type {
  CoreEntry, CredsEntry, ItimerEntry, PosixTimerEntry, RlimitEntry, SaEntry, SignalQueueEntry, TaskCoreEntry,
  ThreadCoreEntry,
} from '../images/generated/types.js';
import type { MiscResult, SigactionEntry, TimerResult } from '../../parasite/protocol.js';
import type { PosixTimerInfo } from '../proc/index.js';
import type { RseqConfiguration } from '../sys/index.js';
import type { SchedState } from './task_state.js';

/** CRIU's task states (core_entry.tc.task_state). */
export const TASK_STATE = { ALIVE: 1, DEAD: 2, STOPPED: 3, ZOMBIE: 6 } as const;

const SIGKILL = 9;
const SIGSTOP = 19;
const SS_DISABLE = 2;

export interface ThreadFacts {
  tid: number;
  comm: string;
  registers: ThreadRegisters;
  blockedMask: bigint;
  misc: MiscResult;
  sched: SchedState;
  creds: CredsEntry;
  robustList: { head: bigint; len: number };
  rseq: RseqConfiguration | undefined;
  pending: Buffer[];
  /** SECCOMP_MODE_* of the thread, and the id of its newest filter in seccomp.img (filter mode). */
  seccompMode?: number;
  seccompFilter?: number;
}

export interface TaskFacts {
  state: number;
  exitCode: number;
  statFlags: number;
  sigactions: SigactionEntry[];
  posixTimers: Array<{ proc: PosixTimerInfo; value: TimerResult }>;
  rlimits: RlimitEntry[];
  loginuid: number;
  oomScoreAdj: number;
  sharedPending: Buffer[];
}

function queue(signals: Buffer[]): SignalQueueEntry {
  return signals.length === 0 ? {} : { signals: signals.map((raw) => ({ siginfo: new Uint8Array(raw) })) };
}

function itimer(value: MiscResult['itimers']['real']): ItimerEntry {
  return {
    isec: BigInt(value?.intervalSec ?? 0n),
    iusec: BigInt(value?.intervalFrac ?? 0n),
    vsec: BigInt(value?.valueSec ?? 0n),
    vusec: BigInt(value?.valueFrac ?? 0n),
  };
}

const SIGEV = { SIGNAL: 0, NONE: 1, THREAD: 2, THREAD_ID: 4 } as const;

/**
 * A POSIX timer as CRIU records it: a timer that signals one thread (`tid.N` in /proc) is
 * SIGEV_THREAD_ID with that thread, else the kind /proc names. The clock id is stored as the
 * kernel's int reinterpreted as u32 (a CPU clock such as CLOCK_PROCESS_CPUTIME_ID is -6).
 */
function posixTimer(t: { proc: PosixTimerInfo; value: TimerResult }): PosixTimerEntry {
  const notify = t.proc.notifyTid !== undefined ? SIGEV.THREAD_ID : t.proc.notify === 'none' ? SIGEV.NONE : t.proc.notify === 'thread' ? SIGEV.THREAD : SIGEV.SIGNAL;
  const entry: PosixTimerEntry = {
    it_id: t.proc.id,
    clock_id: t.proc.clockId >>> 0,
    si_signo: t.proc.signal,
    it_sigev_notify: notify,
    sival_ptr: t.proc.sigevValue,
    overrun: t.value.overrun,
    isec: BigInt(t.value.spec.intervalSec),
    insec: BigInt(t.value.spec.intervalFrac),
    vsec: BigInt(t.value.spec.valueSec),
    vnsec: BigInt(t.value.spec.valueFrac),
  };
  if (notify === SIGEV.THREAD_ID && t.proc.notifyTid !== undefined) entry.notify_thread_id = t.proc.notifyTid;
  return entry;
}

function sigactions(list: SigactionEntry[]): SaEntry[] {
  return list
    .filter((s) => s.signal !== SIGKILL && s.signal !== SIGSTOP)
    .map((s) => ({ sigaction: s.handler, flags: s.flags, restorer: s.restorer, mask: s.mask, compat_sigaction: false }));
}

function threadCore(t: ThreadFacts, leader: boolean): ThreadCoreEntry {
  const tc: ThreadCoreEntry = {
    futex_rla: t.robustList.head,
    futex_rla_len: t.robustList.len,
    sched_nice: t.sched.sched_nice,
    sched_policy: t.sched.sched_policy,
  };
  if (t.sched.sched_prio !== undefined) tc.sched_prio = t.sched.sched_prio;
  if (!leader) tc.blk_sigset = t.blockedMask;
  const alt = t.misc.altstack;
  tc.sas = alt ? { ss_sp: alt.sp, ss_size: alt.size, ss_flags: alt.flags } : { ss_sp: 0n, ss_size: 0n, ss_flags: SS_DISABLE };
  tc.signals_p = queue(t.pending);
  tc.creds = t.creds;
  if (t.seccompMode !== undefined && t.seccompMode !== 0) {
    tc.seccomp_mode = t.seccompMode;
    if (t.seccompFilter !== undefined) tc.seccomp_filter = t.seccompFilter;
  }
  tc.comm = t.comm;
  if (t.rseq && t.rseq.rseqAbiSize > 0) {
    tc.rseq_entry = { rseq_abi_pointer: t.rseq.rseqAbiPointer, rseq_abi_size: t.rseq.rseqAbiSize, signature: t.rseq.signature };
  }
  tc.cg_set = 1;
  return tc;
}

/** The core image entry of one thread; `task` is given for the leader only. */
export function buildCore(arch: CoreImageArch, thread: ThreadFacts, task?: TaskFacts): CoreEntry {
  const core: CoreEntry = { mtype: arch.mtype };
  (core as unknown as Record<string, unknown>)[arch.field] = arch.threadInfo(thread.registers);
  if (task) {
    const misc = thread.misc;
    const tc: TaskCoreEntry = {
      task_state: task.state,
      exit_code: task.exitCode,
      personality: misc.personality ?? 0,
      flags: task.statFlags,
      blk_sigset: thread.blockedMask,
      comm: thread.comm,
      timers: {
        real: itimer(misc.itimers.real),
        virt: itimer(misc.itimers.virtual),
        prof: itimer(misc.itimers.prof),
      },
      rlimits: { rlimits: task.rlimits },
      signals_s: queue(task.sharedPending),
      loginuid: task.loginuid,
      oom_score_adj: task.oomScoreAdj,
      sigactions: sigactions(task.sigactions),
      child_subreaper: (misc.childSubreaper ?? 0) !== 0,
    };
    if (task.posixTimers.length > 0) tc.timers!.posix = task.posixTimers.map(posixTimer);
    core.tc = tc;
  }
  core.thread_core = threadCore(thread, task !== undefined);
  return core;
}

/** The core of a zombie: its exit status and little else (it has no memory, files or threads). */
export function zombieCore(mtype: number, stat: { exitCode: number; flags: number; comm: string }): CoreEntry {
  return {
    mtype,
    tc: { task_state: TASK_STATE.ZOMBIE, exit_code: stat.exitCode, personality: 0, flags: stat.flags, blk_sigset: 0n, comm: stat.comm },
  };
}

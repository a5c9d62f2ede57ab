/**
 * The last in-task steps before the switch, as batches the restorer runs in the task:
 *
 * - task-wide, in the leader: every sigaction (`rt_sigaction`), the interval timers
 *   (`setitimer`), the resource limits (`prlimit64` on itself: up to the hard limit it has, no
 *   CAP_SYS_RESOURCE needed; a refused one is logged), the personality, the child-subreaper bit,
 *   and the process's pending signals (`rt_sigqueueinfo` to itself);
 * - per thread, in that thread: the robust futex list, the clear-tid address, the rseq area
 *   (re-registered where glibc has it), the name, the nice value, the parent-death signal, and
 *   its own pending signals (`rt_tgsigqueueinfo`), its seccomp filters (src/restore/seccomp.ts),
 *   and last its credentials (src/restore/creds.ts).
 *
 * SIGTRAP's action is the one exception: when the image ignores SIGTRAP, installing SIG_IGN before
 * the batch's own int3 would make the kernel reset it to SIG_DFL, so that sigaction is returned
 * for the switch to install after the last trap (src/restore/switch.ts).
 */
import type { CoreEntry, CredsEntry, SaEntry, SignalQueueEntry } from '../images/generated/types.js';
import { PR } from '../sys/index.js';
import { Batch } from './batch.js';
import type { Bootstrap } from './bootstrap.js';
import { SIG_IGN, SIGNAL } from './constants.js';
import { addCredsRecords } from './creds.js';
import type { TaskPlan } from './plan.js';
import { addSeccompRecords, type SeccompStep } from './seccomp.js';
import type { Tracee } from '../ptrace/index.js';

/** A sigaction to install after the last trap. */
export interface DeferredSigaction {
  signal: number;
  act: Uint8Array;
}

const SIGSET_BYTES = 8;
const ITIMER = { REAL: 0, VIRTUAL: 1, PROF: 2 } as const;
const PRIO_PROCESS = 0;

/** `struct sigaction` as the kernel takes it on 64-bit: handler, flags, restorer, mask. */
export function kernelSigaction(sa: SaEntry): Uint8Array {
  return new Uint8Array(BigUint64Array.of(sa.sigaction, sa.flags, sa.restorer, sa.mask).buffer);
}

/** The signal numbers of core.tc.sigactions, in order (every signal but SIGKILL and SIGSTOP). */
export function sigactionSignals(count: number): number[] {
  const out: number[] = [];
  for (let sig = 1; sig <= SIGNAL.COUNT && out.length < count; sig++) if (sig !== SIGNAL.KILL && sig !== SIGNAL.STOP) out.push(sig);
  return out;
}

/** The leader's task-wide batch; returns it and the SIGTRAP action to install last, if any. */
export function taskStateBatch(task: TaskPlan, boot: Bootstrap, nr: Tracee['arch']['nr']): { batch: Batch; deferred: DeferredSigaction | null } {
  const b = new Batch(boot, nr);
  const core = task.threads[0]!.core;
  const tc = core.tc!;
  let deferred: DeferredSigaction | null = null;
  const actions = tc.sigactions ?? [];
  sigactionSignals(actions.length).forEach((sig, i) => {
    const sa = actions[i]!;
    const act = kernelSigaction(sa);
    if (sig === SIGNAL.TRAP && sa.sigaction === SIG_IGN) {
      deferred = { signal: sig, act };
      return;
    }
    b.add('rt_sigaction', [sig, b.data.put(act), 0, SIGSET_BYTES], { what: `set the action of signal ${sig}` });
  });
  const timers = tc.timers;
  if (timers !== undefined) {
    for (const [which, t] of [[ITIMER.REAL, timers.real], [ITIMER.VIRTUAL, timers.virt], [ITIMER.PROF, timers.prof]] as const) {
      if (t.vsec === 0n && t.vusec === 0n) continue; // disarmed
      b.add('setitimer', [which, b.data.words([t.isec, t.iusec, t.vsec, t.vusec]), 0], { what: `arm interval timer ${which}` });
    }
  }
  (tc.rlimits?.rlimits ?? []).forEach((rl, res) => {
    b.add('prlimit64', [0, res, b.data.words([rl.cur, rl.max]), 0], { stop: false, what: `set resource limit ${res}` });
  });
  b.add('personality', [tc.personality], { stop: false, what: 'set the personality' });
  if (tc.child_subreaper) b.add('prctl', [PR.SET_CHILD_SUBREAPER, 1, 0, 0, 0], { what: 'become a child subreaper' });
  queueSignals(b, tc.signals_s, (sig, info) => b.add('rt_sigqueueinfo', [task.pid, sig, info], { what: `queue signal ${sig} to the process` }));
  return { batch: b, deferred };
}

/**
 * A thread's own batch (run in that thread). `creds` are given when they differ from the thread's
 * now: set last, with the mm's dumpable flag after them in the leader (a change of ids resets it).
 */
export function threadStateBatch(task: TaskPlan, index: number, boot: Bootstrap, nr: Tracee['arch']['nr'], opts: { clearTid: bigint; creds?: CredsEntry; seccomp?: SeccompStep | null }): Batch {
  const b = new Batch(boot, nr);
  const t = task.threads[index]!;
  const th = t.core.thread_core;
  if (th !== undefined && th.futex_rla !== 0n) b.add('set_robust_list', [th.futex_rla, th.futex_rla_len], { what: 'set the robust futex list' });
  b.add('set_tid_address', [opts.clearTid], { what: 'set the clear-tid address' });
  const rseq = th?.rseq_entry;
  if (rseq !== undefined && rseq.rseq_abi_pointer !== 0n) {
    b.add('rseq', [rseq.rseq_abi_pointer, rseq.rseq_abi_size, 0, rseq.signature], { what: `register the rseq area at 0x${rseq.rseq_abi_pointer.toString(16)}` });
  }
  const comm = th?.comm ?? (index === 0 ? t.core.tc?.comm : undefined);
  if (comm !== undefined) b.add('prctl', [PR.SET_NAME, b.data.cstring(comm.slice(0, 15)), 0, 0, 0], { what: 'set the thread name' });
  if (th?.sched_nice !== undefined && th.sched_nice !== 0) b.add('setpriority', [PRIO_PROCESS, 0, th.sched_nice], { stop: false, what: 'set the nice value' });
  if (th?.pdeath_sig) b.add('prctl', [PR.SET_PDEATHSIG, th.pdeath_sig, 0, 0, 0], { what: 'set the parent-death signal' });
  queueSignals(b, th?.signals_p, (sig, info) => b.add('rt_tgsigqueueinfo', [task.pid, t.tid, sig, info], { what: `queue signal ${sig} to thread ${t.tid}` }));
  if (opts.seccomp) addSeccompRecords(b, opts.seccomp);
  if (opts.creds !== undefined) addCredsRecords(b, opts.creds);
  const dumpable = task.mm?.dumpable;
  if (index === 0 && dumpable !== undefined) b.add('prctl', [PR.SET_DUMPABLE, dumpable, 0, 0, 0], { stop: false, what: 'set dumpable' });
  return b;
}

function queueSignals(b: Batch, q: SignalQueueEntry | undefined, add: (sig: number, info: bigint) => void): void {
  for (const s of q?.signals ?? []) {
    const info = s.siginfo;
    const sig = new DataView(info.buffer, info.byteOffset, info.byteLength).getInt32(0, true);
    add(sig, b.data.put(info));
  }
}

/** The blocked mask of thread `index` (the leader's is in the task core). */
export function threadSigmask(task: TaskPlan, index: number): bigint {
  const core: CoreEntry = task.threads[index]!.core;
  return (index === 0 ? core.tc?.blk_sigset : undefined) ?? core.thread_core?.blk_sigset ?? 0n;
}

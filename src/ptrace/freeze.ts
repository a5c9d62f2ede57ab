/**
 * Freezing a process tree: `PTRACE_SEIZE` + `PTRACE_INTERRUPT` on every thread of every task, with
 * `PTRACE_O_TRACECLONE | TRACEFORK | TRACEVFORK` so that anything a seized thread creates is
 * attached by the kernel and reported. /proc/PID/task and /proc/PID/task/TID/children are walked
 * again until a pass finds nothing new, so tasks and threads created by threads we had not seized
 * yet are caught too. Stops are collected by polling every pending thread (`wait4(tid, WNOHANG)`),
 * never by blocking on one: a dying thread-group leader is reported only after its threads are reaped.
 *
 * Tasks that exit under us are dropped (a process that exited and is not yet reaped shows up as a
 * zombie); a root that is gone, or a zombie, is a `TASK_GONE` error; a thread traced by someone else
 * is `PTRACE_BUSY`. On any error everything seized so far is let go before the error is thrown.
 */

import { PTRACE_EVENT, PTRACE_O, SIG, sleepSync, type WaitStatus } from '../sys/index.js';
import { isPtraceError, PtraceError } from './errors.js';
import { allDead, FrozenTree, releaseAll, type ProcRec, type ThreadRec } from './frozen_tree.js';
import { childrenOf, readTaskStatus, threadsOf } from './procfs.js';
import { Tracee } from './tracee.js';

/** Options of {@link freezeTree}. */
export interface FreezeOptions {
  /** How long every thread may take to stop, and the whole freeze to settle; 10 s when absent. */
  timeoutMs?: number;
  /** Suspend seccomp filters while traced (`PTRACE_O_SUSPEND_SECCOMP`). */
  suspendSeccomp?: boolean;
  /** Freeze the root's children and their descendants too; true when absent. */
  children?: boolean;
  /**
   * Called after each thread is seized, before it is known to have stopped (progress reports;
   * tests use it to kill a task at a chosen point of the freeze).
   */
  onSeize?: (tid: number, pid: number) => void;
}

const STOP_SIGNALS = new Set<number>([SIG.STOP, SIG.TSTP, SIG.TTIN, SIG.TTOU]);
const TREE_OPTIONS = PTRACE_O.TRACECLONE | PTRACE_O.TRACEFORK | PTRACE_O.TRACEVFORK;
const MAX_PASSES = 1000;

/**
 * `ptrace(PTRACE_SEIZE)` + `ptrace(PTRACE_INTERRUPT)` on every thread of `rootPid` and of all its
 * descendants — freezes the tree and returns it. See the module comment for the races handled.
 */
export function freezeTree(rootPid: number, opts?: FreezeOptions): FrozenTree {
  const started = performance.now();
  const freezer = new Freezer(rootPid, opts);
  try {
    freezer.run();
  } catch (err) {
    try {
      releaseAll(freezer.procs);
    } catch {
      // The freeze error is the one that matters.
    }
    throw err;
  }
  return new FrozenTree(rootPid, freezer.procs, { ...freezer.stats, ms: performance.now() - started });
}

class Freezer {
  readonly procs = new Map<number, ProcRec>();
  readonly stats = { passes: 0, seized: 0, adopted: 0, signalsDelivered: 0 };
  readonly #root: number;
  readonly #timeoutMs: number;
  readonly #children: boolean;
  readonly #onSeize: ((tid: number, pid: number) => void) | undefined;
  readonly #options: { options: number; suspendSeccomp: boolean };
  /** Every thread we trace, by tid, with its process. */
  readonly #byTid = new Map<number, { rec: ThreadRec; proc: ProcRec }>();
  readonly #pending = new Set<number>();

  constructor(root: number, opts: FreezeOptions | undefined) {
    this.#root = root;
    this.#timeoutMs = opts?.timeoutMs ?? 10_000;
    this.#children = opts?.children ?? true;
    this.#onSeize = opts?.onSeize;
    // Without children only new threads need catching (clone() without CLONE_THREAD is released).
    this.#options = { options: this.#children ? TREE_OPTIONS : PTRACE_O.TRACECLONE, suspendSeccomp: opts?.suspendSeccomp ?? false };
  }

  run(): void {
    const st = readTaskStatus(this.#root);
    if (st === null) throw new PtraceError('TASK_GONE', `Cannot freeze task ${this.#root}: it does not exist`, { tid: this.#root, pid: this.#root });
    if (st.state === 'Z' || st.state === 'X') throw new PtraceError('TASK_GONE', `Cannot freeze task ${this.#root}: it is a zombie`, { tid: this.#root, pid: this.#root });
    if (st.tgid !== this.#root) throw new RangeError(`Task ${this.#root} is a thread of task ${st.tgid}: freeze its process`);
    this.#addProcess(this.#root, st.ppid);
    for (;;) {
      if (++this.stats.passes > MAX_PASSES) throw new PtraceError('STOP_TIMEOUT', `The tree of task ${this.#root} kept changing for ${MAX_PASSES} passes`, { tid: this.#root, pid: this.#root });
      let changed = false;
      for (const proc of [...this.procs.values()]) if (!proc.zombie && this.#seizeThreads(proc)) changed = true;
      this.#settle();
      if (this.#children) for (const proc of [...this.procs.values()]) if (this.#findChildren(proc)) changed = true;
      if (!changed) break;
    }
    const root = this.procs.get(this.#root)!;
    if (![...root.threads.values()].some((t) => t.state === 'frozen' || t.state === 'stopped')) {
      throw new PtraceError('TASK_GONE', `Cannot freeze task ${this.#root}: it exited during the freeze`, { tid: this.#root, pid: this.#root });
    }
    // Processes whose every thread exited under us are gone (a zombie of theirs comes back as such).
    for (const [pid, proc] of this.procs) if (!proc.zombie && pid !== this.#root && allDead(proc)) this.procs.delete(pid);
  }

  #addProcess(pid: number, ppid: number): ProcRec {
    let proc = this.procs.get(pid);
    if (proc === undefined) {
      proc = { pid, ppid, zombie: false, threads: new Map() };
      this.procs.set(pid, proc);
    }
    return proc;
  }

  /** Seizes the threads of `proc` not seen yet; true when there were any. */
  #seizeThreads(proc: ProcRec): boolean {
    let changed = false;
    const tids = threadsOf(proc.pid);
    for (const tid of tids) {
      if (proc.threads.has(tid)) continue;
      changed = true;
      const status = readTaskStatus(tid);
      if (status === null) continue;
      if (status.state === 'Z' || status.state === 'X') {
        if (tid === proc.pid && tids.length === 1) proc.zombie = true;
        proc.threads.set(tid, { tid, state: 'zombie', tracee: null });
        continue;
      }
      this.#trace(tid, proc, status.tracerPid === process.pid);
    }
    return changed;
  }

  /** Seizes and interrupts one thread (or adopts it when the kernel attached it to us already). */
  #trace(tid: number, proc: ProcRec, ours: boolean): void {
    if (this.#byTid.has(tid)) return;
    let tracee: Tracee;
    if (ours) {
      tracee = Tracee.adopt(tid, { pid: proc.pid });
      this.stats.adopted++;
    } else {
      try {
        tracee = Tracee.seize(tid, { ...this.#options, pid: proc.pid });
        this.stats.seized++;
        tracee.interrupt();
      } catch (err) {
        if (isPtraceError(err, 'TASK_GONE') || isPtraceError(err, 'TASK_DIED')) return;
        if (isPtraceError(err, 'PTRACE_BUSY') && err.tracerPid === process.pid) return this.#trace(tid, proc, true);
        throw err;
      }
    }
    const rec: ThreadRec = { tid, state: 'pending', tracee };
    proc.threads.set(tid, rec);
    this.#byTid.set(tid, { rec, proc });
    this.#pending.add(tid);
    this.#onSeize?.(tid, proc.pid);
  }

  /** Polls every pending thread until each has stopped or died. */
  #settle(): void {
    const deadline = performance.now() + this.#timeoutMs;
    let pause = 0.05;
    while (this.#pending.size > 0) {
      let progress = false;
      for (const tid of [...this.#pending]) {
        const { rec, proc } = this.#byTid.get(tid)!;
        let st: WaitStatus | null;
        try {
          st = rec.tracee!.pollStop();
        } catch (err) {
          if (!isPtraceError(err, 'TASK_DIED')) throw err;
          st = { kind: 'exited', code: -1 };
        }
        if (st === null) continue;
        progress = true;
        this.#handle(rec, proc, st);
      }
      if (progress) {
        pause = 0.05;
        continue;
      }
      // Nothing from the pending threads: one of them may be a leader whose death is reported only
      // once its other threads, already stopped by us and killed since, are reaped. Reap those.
      if (this.#reapStopped()) continue;
      if (performance.now() > deadline) {
        const late = [...this.#pending].join(', ');
        throw new PtraceError('STOP_TIMEOUT', `Threads ${late} of the tree of task ${this.#root} did not stop within ${this.#timeoutMs} ms`, { tid: [...this.#pending][0]!, pid: this.#root });
      }
      sleepSync(pause);
      pause = Math.min(pause * 2, 2);
    }
  }

  /** Collects the deaths of threads that had stopped already (killed since); true if any. */
  #reapStopped(): boolean {
    let any = false;
    for (const { rec } of this.#byTid.values()) {
      if (this.#pending.has(rec.tid) || (rec.state !== 'frozen' && rec.state !== 'stopped')) continue;
      let st: WaitStatus | null = null;
      try {
        st = rec.tracee!.pollStop();
      } catch (err) {
        if (!isPtraceError(err, 'TASK_DIED')) throw err;
      }
      if (rec.tracee!.state === 'dead') {
        rec.state = 'dead';
        any = true;
      } else if (st !== null) {
        // A stopped thread has nothing else to report; keep it as it is.
        any = true;
      }
    }
    return any;
  }

  /** What to do with one report of a pending thread. */
  #handle(rec: ThreadRec, proc: ProcRec, st: WaitStatus): void {
    const t = rec.tracee!;
    switch (st.kind) {
      case 'exited':
      case 'signaled':
        rec.state = 'dead';
        this.#pending.delete(rec.tid);
        return;
      case 'event':
        if (st.event === PTRACE_EVENT.STOP) {
          rec.state = st.signal === SIG.TRAP || !STOP_SIGNALS.has(st.signal) ? 'frozen' : 'stopped';
          if (rec.state === 'stopped') rec.stopSignal = st.signal;
          this.#pending.delete(rec.tid);
          return;
        }
        if (st.event === PTRACE_EVENT.FORK || st.event === PTRACE_EVENT.VFORK || st.event === PTRACE_EVENT.CLONE) this.#newChild(t, proc);
        return this.#resume(rec, 0);
      case 'stopped':
        // A signal arrived before our interrupt: deliver it, then stop again.
        this.stats.signalsDelivered++;
        return this.#resume(rec, st.signal);
      case 'syscall':
      case 'continued':
        return this.#resume(rec, 0);
    }
  }

  #resume(rec: ThreadRec, signal: number): void {
    try {
      rec.tracee!.cont(signal);
      rec.tracee!.interrupt();
    } catch (err) {
      if (!isPtraceError(err, 'TASK_DIED')) throw err;
      rec.state = 'dead';
      this.#pending.delete(rec.tid);
    }
  }

  /** A clone/fork event: the kernel attached the new task to us; adopt it now. */
  #newChild(parent: Tracee, proc: ProcRec): void {
    const child = Number(parent.eventMessage());
    if (this.#byTid.has(child)) return;
    const status = readTaskStatus(child);
    const tgid = status?.tgid ?? child;
    if (tgid === proc.pid) return this.#trace(child, proc, true);
    if (!this.#children) return this.#release(child, tgid);
    this.#trace(child, this.#addProcess(tgid, status?.ppid ?? proc.pid), true);
  }

  /** A child created while we freeze only the root: it was attached to us, so let it go at once. */
  #release(tid: number, pid: number): void {
    const t = Tracee.adopt(tid, { pid });
    try {
      t.waitStop({ timeoutMs: this.#timeoutMs });
      t.detach();
    } catch (err) {
      if (!isPtraceError(err, 'TASK_DIED')) throw err;
    }
  }

  /** Adds the children of every live thread of `proc`; true when there were new ones. */
  #findChildren(proc: ProcRec): boolean {
    if (proc.zombie) return false;
    let changed = false;
    for (const rec of proc.threads.values()) {
      if (rec.state === 'dead' || rec.state === 'zombie') continue;
      for (const child of childrenOf(proc.pid, rec.tid)) {
        const known = this.procs.get(child);
        if (known !== undefined && (known.zombie || !allDead(known))) continue;
        const status = readTaskStatus(child);
        if (status === null) continue;
        const zombie = status.state === 'Z' || status.state === 'X';
        if (known !== undefined && !zombie) continue;
        changed = true;
        const p = this.#addProcess(child, proc.pid);
        if (zombie) {
          // Exited and not reaped (its parent is frozen): a zombie of the tree, as CRIU records them.
          p.zombie = true;
          p.threads.clear();
          p.threads.set(child, { tid: child, state: 'zombie', tracee: null });
        }
      }
    }
    return changed;
  }
}

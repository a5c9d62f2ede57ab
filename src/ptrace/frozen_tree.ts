/**
 * A frozen process tree as {@link freezeTree} returns it: its processes and threads with the state
 * each was in, their tracees, and {@link FrozenTree.thaw}.
 */

import type { Tracee } from './tracee.js';

/** What a frozen thread was doing when it stopped. */
export type FrozenThreadState =
  /** Stopped by our `PTRACE_INTERRUPT` (or its first stop after being auto-attached). */
  | 'frozen'
  /** In a group-stop (SIGSTOP and friends): stays stopped after thaw. */
  | 'stopped'
  /** A zombie thread (not seizable). */
  | 'zombie';

/** One thread of a frozen process. */
export interface FrozenThread {
  readonly tid: number;
  readonly state: FrozenThreadState;
  /** The tracee; null for a zombie. */
  readonly tracee: Tracee | null;
  /** The signal of its group-stop, for `stopped`. */
  readonly stopSignal?: number;
}

/** One process of a frozen tree. */
export interface FrozenProcess {
  readonly pid: number;
  readonly ppid: number;
  /** `stopped` when it was in a group-stop, `zombie` when it had exited and was not reaped yet. */
  readonly state: 'frozen' | 'stopped' | 'zombie';
  readonly threads: readonly FrozenThread[];
}

/** Figures of one freeze. */
export interface FreezeStats {
  /** Walks of the tree until one found nothing new. */
  passes: number;
  /** Threads we seized, and threads the kernel attached for us (clone/fork events). */
  seized: number;
  adopted: number;
  /** Signals that arrived while freezing and were delivered (re-injected). */
  signalsDelivered: number;
  ms: number;
}

/** @internal a thread as the freezer tracks it */
export interface ThreadRec {
  tid: number;
  state: FrozenThreadState | 'pending' | 'dead';
  tracee: Tracee | null;
  stopSignal?: number;
}

/** @internal a process as the freezer tracks it */
export interface ProcRec {
  pid: number;
  ppid: number;
  zombie: boolean;
  threads: Map<number, ThreadRec>;
}

/** @internal */
export function allDead(proc: ProcRec): boolean {
  for (const t of proc.threads.values()) if (t.state !== 'dead') return false;
  return true;
}

/** A frozen tree: every live thread stopped by us. {@link thaw} lets them all go. */
export class FrozenTree {
  readonly rootPid: number;
  readonly stats: FreezeStats;
  readonly #procs: Map<number, ProcRec>;
  #thawed = false;

  /** @internal built by {@link freezeTree} */
  constructor(rootPid: number, procs: Map<number, ProcRec>, stats: FreezeStats) {
    this.rootPid = rootPid;
    this.#procs = procs;
    this.stats = stats;
  }

  /** Every process of the tree, root first, in discovery order. */
  get processes(): FrozenProcess[] {
    return [...this.#procs.values()].map(view);
  }

  /** One process of the tree. */
  process(pid: number): FrozenProcess | undefined {
    const p = this.#procs.get(pid);
    return p === undefined ? undefined : view(p);
  }

  /** Every live tracee (one per thread that is not a zombie). */
  get tracees(): Tracee[] {
    const out: Tracee[] = [];
    for (const p of this.#procs.values()) for (const t of p.threads.values()) if (t.tracee !== null && t.tracee.state !== 'dead') out.push(t.tracee);
    return out;
  }

  /** The tracee of one thread. */
  tracee(tid: number): Tracee | undefined {
    for (const p of this.#procs.values()) {
      const t = p.threads.get(tid);
      if (t !== undefined) return t.tracee ?? undefined;
    }
    return undefined;
  }

  /**
   * `ptrace(PTRACE_DETACH, tid, 0, 0)` on every thread (non-leaders first, so that a process that
   * died under us can be reaped whole). The tree runs on as before; a process that was in a
   * group-stop stays stopped. Safe to call twice.
   */
  thaw(): void {
    if (this.#thawed) return;
    this.#thawed = true;
    releaseAll(this.#procs);
  }
}

function view(p: ProcRec): FrozenProcess {
  const threads = [...p.threads.values()]
    .filter((t) => t.state !== 'dead' && t.state !== 'pending')
    .map((t) => ({ tid: t.tid, state: t.state as FrozenThreadState, tracee: t.tracee, ...(t.stopSignal === undefined ? {} : { stopSignal: t.stopSignal }) }));
  const state = p.zombie ? 'zombie' : threads.some((t) => t.state === 'stopped') ? 'stopped' : 'frozen';
  return { pid: p.pid, ppid: p.ppid, state, threads };
}

/** @internal detaches every tracee (non-leaders first); throws the first failure after trying all. */
export function releaseAll(procs: Map<number, ProcRec>): void {
  const all = [...procs.values()].flatMap((p) => [...p.threads.values()].map((t) => ({ t, leader: t.tid === p.pid })));
  let first: unknown = null;
  for (const { t } of [...all.filter((x) => !x.leader), ...all.filter((x) => x.leader)]) {
    if (t.tracee === null) continue;
    try {
      t.tracee.detach();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== null) throw first;
}


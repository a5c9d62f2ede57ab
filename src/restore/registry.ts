/**
 * Every task and thread a restore created, so that a failure can take them all back: SIGKILL to
 * each process, then each one reaped (as tracer, and as the subreaper its orphans fall back to),
 * until none of their PIDs is left in /proc.
 */
import { existsSync } from 'node:fs';
import type { Tracee } from '../ptrace/index.js';
import { isSysError, kill, SIG, sleepSync, wait4, WAIT } from '../sys/index.js';

export class TaskRegistry {
  readonly #tracees = new Map<number, Tracee>();
  readonly #processes = new Set<number>();

  /** Records a new process (its leader's tracee). */
  addProcess(leader: Tracee): void {
    this.#processes.add(leader.pid);
    this.#tracees.set(leader.tid, leader);
  }

  /** Records a new thread of a known process. */
  addThread(thread: Tracee): void {
    this.#tracees.set(thread.tid, thread);
  }

  /** Forgets a process (the seed, once it exited and was reaped). */
  forget(pid: number): void {
    this.#processes.delete(pid);
    for (const [tid, t] of this.#tracees) if (t.pid === pid) this.#tracees.delete(tid);
  }

  tracee(tid: number): Tracee | undefined {
    return this.#tracees.get(tid);
  }

  get processes(): number[] {
    return [...this.#processes];
  }

  get tracees(): Tracee[] {
    return [...this.#tracees.values()];
  }

  /**
   * `kill(pid, SIGKILL)` to every process, then `wait4(tid, __WALL | WNOHANG)` on every task and
   * thread until /proc shows none of them (at most `timeoutMs`). Returns the PIDs still there.
   */
  killAll(timeoutMs = 5000): number[] {
    for (const pid of this.#processes) {
      try {
        kill(pid, SIG.KILL);
      } catch {
        // gone already
      }
    }
    const ids = new Set<number>([...this.#processes, ...this.#tracees.keys()]);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (const id of ids) reapQuietly(id);
      const left = [...ids].filter((id) => existsSync(`/proc/${id}`));
      if (left.length === 0 || performance.now() > deadline) {
        this.#processes.clear();
        this.#tracees.clear();
        return left;
      }
      sleepSync(2);
    }
  }
}

/** `wait4(id, &status, __WALL | WNOHANG)` until it has nothing more to report. */
function reapQuietly(id: number): void {
  for (let i = 0; i < 8; i++) {
    try {
      if (wait4(id, { flags: WAIT.ALL | WAIT.NOHANG }) === null) return;
    } catch (err) {
      if (isSysError(err, 'ECHILD')) return;
      throw err;
    }
  }
}

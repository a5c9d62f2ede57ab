/**
 * What probes share: a detached target task (started on first use, killed at the end) for the
 * probes that need another process to seize, and a tidy-up list for what they create.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SIG, kill, sleepSync } from '../src/sys/index.js';

export class ProbeContext {
  #target: number | undefined;
  #cleanups: Array<() => void> = [];

  /**
   * A `sleep` task that is not Node's child (Node would reap it and eat its ptrace stops): a
   * shell starts it under setsid and exits, so it is reparented away from us.
   */
  target(): number {
    if (this.#target !== undefined) return this.#target;
    const out = spawnSync('sh', ['-c', 'setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    const pid = Number(out.stdout.trim());
    if (out.status !== 0 || !Number.isInteger(pid) || pid <= 0) {
      throw new Error(`cannot start a probe target: ${out.stderr || out.stdout}`);
    }
    this.#target = pid;
    for (let i = 0; i < 500 && comm(pid) !== 'sleep'; i++) sleepSync(2);
    if (comm(pid) !== 'sleep') throw new Error(`probe target ${pid} did not start sleep`);
    return pid;
  }

  /** Runs `fn` when the probes are done, even if one of them threw. */
  defer(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  dispose(): void {
    for (const fn of this.#cleanups.reverse()) {
      try {
        fn();
      } catch {
        // A failed tidy-up must not hide the probe results.
      }
    }
    this.#cleanups = [];
    if (this.#target !== undefined) {
      try {
        kill(this.#target, SIG.KILL);
      } catch {
        // Already gone.
      }
      this.#target = undefined;
    }
  }
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

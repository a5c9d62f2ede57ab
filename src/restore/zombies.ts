/**
 * Zombies: a task that had exited but was not yet reaped is created like any other (its PID and
 * parent link matter to its parent), given its name (`prctl(PR_SET_NAME)`), then made to end the
 * way it ended: `exit_group(code)` run at its own syscall site, or the signal that killed it. Its
 * parent, restored and stopped, finds it a zombie as before. Helpers of the tree's birth end the
 * same way (src/restore/tree.ts).
 */
import type { Tracee } from '../ptrace/index.js';
import { findSyscallSite, withRemote } from '../remote/index.js';
import { describeWaitStatus, PR, SIG, tgkill } from '../sys/index.js';
import type { RestorePlan } from './plan.js';
import type { LiveTask } from './tree.js';

/** Ends every zombie of the tree (each stopped since its birth). */
export function finishZombies(plan: RestorePlan, live: Map<number, LiveTask>, log: (m: string) => void): void {
  for (const task of plan.tasks) {
    if (!task.zombie) continue;
    const t = live.get(task.pid)!.leader;
    const comm = task.threads[0]!.core.tc?.comm;
    if (comm !== undefined) {
      const name = new TextEncoder().encode(`${comm.slice(0, 15)}\0`);
      withRemote(t, (r) => r.withScratch(name, (addr) => r.syscall('prctl', PR.SET_NAME, addr, 0, 0, 0)));
    }
    const signal = task.exitCode & 0x7f;
    const st = exitNow(t, signal !== 0 ? { signal } : { code: (task.exitCode >> 8) & 0xff });
    log(`task ${task.pid}: a zombie again (${describeWaitStatus(st)})`);
  }
}

/**
 * Makes the stopped task `t` end now: `exit_group(code)` at a syscall site of its own, or the
 * signal `signal` sent to it (`tgkill`) and let through. Returns once the tracer saw it end.
 */
export function exitNow(t: Tracee, how: { code: number } | { signal: number }): ReturnType<Tracee['waitStop']> {
  const signal = 'signal' in how ? how.signal : 0;
  if (signal !== 0) {
    tgkill(t.pid, t.pid, { signal });
  } else {
    const ops = t.arch;
    t.setRegs(ops.setupSyscall(t.getRegs(), { nr: ops.nr.exit_group, args: ['code' in how ? how.code : 0], ip: findSyscallSite(t.pid) }));
  }
  t.cont(0);
  for (;;) {
    const st = t.waitStop({ timeoutMs: 5000 });
    if (st.kind === 'exited' || st.kind === 'signaled') return st;
    if (st.kind === 'stopped' && st.signal === signal) t.cont(signal);
    else if (st.kind === 'stopped' && st.signal !== SIG.TRAP) t.cont(st.signal);
    else t.cont(0);
  }
}

/**
 * The seed: the process every restored task descends from. Node cannot fork, so restore starts a
 * small ordinary program (`sleep`) through a shell that backgrounds it under `setsid` and exits:
 * the seed is then an orphan, adopted by the driver (a child subreaper), and not a child Node
 * knows about. The driver seizes it with the options every restored task inherits (clone and fork
 * children attached and stopped at birth, syscall stops marked) and interrupts it; the tree's root
 * is then cloned from it with remote syscalls (src/restore/tree.ts).
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { Tracee } from '../ptrace/index.js';
import { PTRACE_EVENT, PTRACE_O, setChildSubreaper, sleepSync } from '../sys/index.js';
import { RestoreError } from './errors.js';

/** ptrace options of the seed, inherited by every task cloned from it. */
export const SEED_OPTIONS = PTRACE_O.TRACECLONE | PTRACE_O.TRACEFORK | PTRACE_O.TRACEVFORK | PTRACE_O.TRACESYSGOOD;

const SEED_PROGRAM = 'sleep';
const SEED_ARGS = '1000000';

/**
 * `prctl(PR_SET_CHILD_SUBREAPER, 1)`, then `sh -c 'setsid sleep … & echo $!'`, then
 * `PTRACE_SEIZE` + `PTRACE_INTERRUPT` of the seed: returns it stopped.
 */
export function startSeed(opts?: { timeoutMs?: number; avoid?: ReadonlySet<number>; inShellSession?: boolean }): Tracee {
  // The kernel may hand the seed (or its shell) a PID the tree needs: start another one then.
  for (let attempt = 0; ; attempt++) {
    const seed = startOneSeed(opts?.timeoutMs, opts?.inShellSession ?? false);
    if (!opts?.avoid?.has(seed.pid) || attempt >= 4) return seed;
    process.kill(seed.pid, 'SIGKILL');
    for (;;) {
      const st = seed.waitStop({ timeoutMs: 5000 });
      if (st.kind === 'exited' || st.kind === 'signaled') break;
    }
  }
}

function startOneSeed(timeoutMs: number | undefined, inShellSession: boolean): Tracee {
  const opts = timeoutMs === undefined ? undefined : { timeoutMs };
  setChildSubreaper(true, { what: 'become the subreaper of the restored tree' });
  // A shell job (--shell-job) is born in criu-ts's session and group: no setsid then.
  const script = `${inShellSession ? '' : 'setsid '}${SEED_PROGRAM} ${SEED_ARGS} </dev/null >/dev/null 2>&1 & echo $!`;
  const res = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
  const pid = Number(res.stdout?.trim());
  if (res.status !== 0 || !Number.isInteger(pid) || pid <= 0) {
    throw new RestoreError('RESTORE_FAILED', `Cannot start the seed process: ${res.error?.message ?? res.stderr ?? `status ${res.status}`}`, { step: 'start the seed' });
  }
  // setsid execs the program itself (the background job is no group leader): wait for that exec.
  const deadline = performance.now() + (opts?.timeoutMs ?? 5000);
  for (;;) {
    let exe = '';
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      // not there yet, or gone
    }
    if (exe.endsWith(`/${SEED_PROGRAM}`)) break;
    if (performance.now() > deadline) throw new RestoreError('RESTORE_FAILED', `The seed process ${pid} did not start ${SEED_PROGRAM} (exe: ${exe || 'none'})`, { step: 'start the seed', pid });
    sleepSync(1);
  }
  const seed = Tracee.seize(pid, { options: SEED_OPTIONS, pid });
  try {
    seed.interrupt();
    for (;;) {
      const st = seed.waitStop({ timeoutMs: opts?.timeoutMs ?? 5000 });
      if (st.kind === 'event' && st.event === PTRACE_EVENT.STOP) return seed;
      if (st.kind === 'exited' || st.kind === 'signaled') throw new RestoreError('RESTORE_FAILED', `The seed process ${pid} died before it could be used`, { step: 'start the seed', pid });
      seed.cont(0);
    }
  } catch (err) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    throw err;
  }
}

/**
 * POSIX timers (core.tc.timers.posix), made again in the task's leader under their own ids and
 * armed with the time they had left.
 *
 * The id is what the program holds (a `timer_t`), so it must come back exactly. Linux 6.15 and
 * later let a process choose it: with `prctl(PR_TIMER_CREATE_RESTORE_IDS, ON)`, `timer_create`
 * reads the id it should create from its `timer_t *` argument (and fails if that id is taken).
 * The whole restore is then one batch:
 *
 *   prctl(PR_TIMER_CREATE_RESTORE_IDS, ON)
 *   timer_create(clock, &sigevent, &id)            per timer, the id written in `id` beforehand
 *   prctl(PR_TIMER_CREATE_RESTORE_IDS, OFF)
 *   timer_settime(id, 0, &{interval, left}, NULL)  per armed timer (relative: the time left)
 *
 * On an older kernel the prctl fails with EINVAL and ids are handed out in increasing order,
 * so, as CRIU does there, the timers are made in id order, each `timer_create` repeated until it
 * returns the wanted id, the extra timers deleted afterwards.
 *
 * The overrun count is not restored (no system call sets it; CRIU does not either). A timer of a
 * thread's CPU clock is made by the leader, so it measures the leader's time (as in CRIU).
 */
import type { PosixTimerEntry } from '../images/generated/types.js';
import type { Tracee } from '../ptrace/index.js';
import { Batch, BatchError, runBatch } from './batch.js';
import type { Bootstrap } from './bootstrap.js';
import { RestoreError } from './errors.js';
import type { TaskPlan } from './plan.js';

/** `prctl(PR_TIMER_CREATE_RESTORE_IDS, ...)` (linux/prctl.h, 6.15; not in this machine's headers). */
const PR_TIMER_CREATE_RESTORE_IDS = 77;
const RESTORE_IDS = { OFF: 0, ON: 1 } as const;
const EINVAL = 22;
const SIGEV_THREAD_ID = 4;
/** How many extra timers the linear fallback may make while it climbs to a wanted id. */
const LINEAR_LIMIT = 4096;

/** The task's POSIX timers, in id order. */
export function posixTimersOf(task: TaskPlan): PosixTimerEntry[] {
  return [...(task.threads[0]!.core.tc?.timers?.posix ?? [])].sort((a, b) => a.it_id - b.it_id);
}

/**
 * `struct sigevent` of a 64-bit kernel (64 bytes): sigev_value at 0, sigev_signo at 8,
 * sigev_notify at 12, the thread id of SIGEV_THREAD_ID at 16.
 */
export function sigevent(t: PosixTimerEntry): Uint8Array {
  const out = new Uint8Array(64);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, t.sival_ptr, true);
  v.setInt32(8, t.si_signo, true);
  v.setInt32(12, t.it_sigev_notify, true);
  if (t.it_sigev_notify === SIGEV_THREAD_ID) v.setInt32(16, t.notify_thread_id ?? 0, true);
  return out;
}

/** `struct itimerspec`: the interval, then the time left. */
function itimerspec(t: PosixTimerEntry): Uint8Array {
  return new Uint8Array(BigUint64Array.of(t.isec, t.insec, t.vsec, t.vnsec).buffer);
}

const armed = (t: PosixTimerEntry) => t.vsec !== 0n || t.vnsec !== 0n;
/** The clock id as the kernel's int (the image keeps it as u32: CPU clocks are negative). */
const clockOf = (t: PosixTimerEntry) => t.clock_id | 0;

/** Makes and arms every POSIX timer of `task` in its stopped leader `t` (its bootstrap mapped). */
export function restorePosixTimers(t: Tracee, boot: Bootstrap, task: TaskPlan, log: (m: string) => void): void {
  const timers = posixTimersOf(task);
  if (timers.length === 0) return;
  const image = task.threads[0]!.image;
  const b = new Batch(boot, t.arch.nr);
  b.add('prctl', [PR_TIMER_CREATE_RESTORE_IDS, RESTORE_IDS.ON, 0, 0, 0], { what: 'let timer_create take the ids it is given' });
  const slots = timers.map((timer) => {
    const slot = b.data.words([timer.it_id]);
    b.add('timer_create', [clockOf(timer), b.data.put(sigevent(timer)), slot], { what: `create POSIX timer ${timer.it_id} (clock ${clockOf(timer)})` });
    return slot;
  });
  b.add('prctl', [PR_TIMER_CREATE_RESTORE_IDS, RESTORE_IDS.OFF, 0, 0, 0], { what: 'let timer_create choose ids again' });
  addArming(b, timers);
  try {
    runBatch(t, boot, b);
  } catch (err) {
    if (err instanceof BatchError && err.index === 0 && err.errno === EINVAL) {
      log(`task ${task.pid}: this kernel cannot create timers with given ids, creating them in id order`);
      createInOrder(t, boot, task, timers);
      return;
    }
    throw err;
  }
  timers.forEach((timer, i) => {
    const got = new DataView(t.readMemory(slots[i]!, 4).buffer).getInt32(0, true);
    if (got !== timer.it_id) throw new RestoreError('RESTORE_FAILED', `Task ${task.pid}: POSIX timer ${timer.it_id} came back as timer ${got}`, { pid: task.pid, image, step: 'restore its POSIX timers' });
  });
}

function addArming(b: Batch, timers: readonly PosixTimerEntry[]): void {
  for (const timer of timers.filter(armed)) {
    b.add('timer_settime', [timer.it_id, 0, b.data.put(itimerspec(timer)), 0], { what: `arm POSIX timer ${timer.it_id}` });
  }
}

/**
 * The fallback for kernels without PR_TIMER_CREATE_RESTORE_IDS: `timer_create` (one batch each)
 * until it returns the wanted id, in id order; the timers made on the way deleted; then armed.
 */
function createInOrder(t: Tracee, boot: Bootstrap, task: TaskPlan, timers: readonly PosixTimerEntry[]): void {
  const image = task.threads[0]!.image;
  const extra: number[] = [];
  for (const timer of timers) {
    for (;;) {
      const b = new Batch(boot, t.arch.nr);
      const slot = b.data.words([0]);
      b.add('timer_create', [clockOf(timer), b.data.put(sigevent(timer)), slot], { what: `create POSIX timer ${timer.it_id}` });
      runBatch(t, boot, b);
      const got = new DataView(t.readMemory(slot, 4).buffer).getInt32(0, true);
      if (got === timer.it_id) break;
      if (got > timer.it_id || extra.length >= LINEAR_LIMIT) {
        throw new RestoreError('RESTORE_FAILED', `Task ${task.pid}: POSIX timer ${timer.it_id} cannot be made again: this kernel handed out timer ${got}`, { pid: task.pid, image, step: 'restore its POSIX timers' });
      }
      extra.push(got);
    }
  }
  const b = new Batch(boot, t.arch.nr);
  for (const id of extra) b.add('timer_delete', [id], { what: `delete the extra timer ${id}` });
  addArming(b, timers);
  runBatch(t, boot, b);
}

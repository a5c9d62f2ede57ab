/**
 * A task's fd table and fs, in one batch run by the restorer in the task:
 *
 *   close_range(0, ~0U, 0)                      the seed's fds go
 *   pidfd_open(driver, 0)                       -> 0, moved above every fd the task needs
 *   pidfd_getfd(pidfd, driver_fd, 0)            per fd, in increasing order: it lands on the
 *   dup3(tmp, fd, O_CLOEXEC?) + close(tmp)      lowest free number, which is the fd itself or
 *     or fcntl(fd, F_SETFD, cloexec)            one below it (the driver knows which)
 *   close(pidfd)
 *   epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &event)  each epoll's targets, by the task's own fd numbers
 *   chdir(cwd); umask(mask)
 *
 * Descriptions shared between fds or tasks are one driver fd copied twice, so they stay shared;
 * an epoll shared between tasks gets its targets once, from the first task that has it. A task
 * that shares its whole fd table or fs with its parent (CLONE_FILES, CLONE_FS) skips that part:
 * its parent filled it in.
 */
import { FdTypes } from '../../images/generated/types.js';
import { F, O } from '../../sys/index.js';
import type { ResultRef } from '../../../parasite/restorer_protocol.js';
import { Batch, runBatch } from '../batch.js';
import type { Bootstrap } from '../bootstrap.js';
import { FD_CLOEXEC } from '../constants.js';
import { RestoreError } from '../errors.js';
import type { RestorePlan, TaskPlan } from '../plan.js';
import type { Tracee } from '../../ptrace/index.js';
import type { DriverFiles } from './open.js';

const CLOSE_RANGE_ALL = 0xffffffff;

/**
 * What a task fills in: its fd table and its fs (cwd, umask), or only one of them when it shares
 * the other with its parent, which filled it already (src/restore/shared.ts).
 */
export interface InstallParts {
  fds: boolean;
  fs: boolean;
  /**
   * The fd at which the task holds a pidfd of the driver already (inherited from the seed: with
   * --unshare pid the driver has no PID the task could open). Without it the task opens one.
   */
  driverPidfd?: number;
}

/** Builds the batch; `expect` lists results whose value the driver predicted. */
export function fdTableBatch(plan: RestorePlan, task: TaskPlan, files: DriverFiles, boot: Bootstrap, nr: Tracee['arch']['nr'], epollsDone: Set<number>, parts: InstallParts = { fds: true, fs: true }): { batch: Batch; expect: Array<{ ref: ResultRef; value: bigint; what: string }> } {
  const b = new Batch(boot, nr);
  const expect: Array<{ ref: ResultRef; value: bigint; what: string }> = [];
  if (parts.fds) addFdRecords(b, expect, plan, task, files, epollsDone, parts.driverPidfd);
  if (parts.fs) {
    const cwd = plan.files.get(task.fs!.cwd_id)!.reg!.name;
    b.add('chdir', [b.data.cstring(cwd)], { what: `enter ${cwd}` });
    b.add('umask', [task.fs!.umask ?? 0o22], { stop: false, what: 'set the umask' });
  }
  return { batch: b, expect };
}

/** The fd table: the seed's fds closed, each fd taken from the driver and put in place, epoll targets. */
function addFdRecords(b: Batch, expect: Array<{ ref: ResultRef; value: bigint; what: string }>, plan: RestorePlan, task: TaskPlan, files: DriverFiles, epollsDone: Set<number>, inherited?: number): void {
  const fds = [...task.fds!].sort((x, y) => x.fd - y.fd);
  const top = fds.length === 0 ? 0 : fds[fds.length - 1]!.fd + 1;
  let pidfd: ResultRef | number;
  if (inherited === undefined) {
    b.add('close_range', [0, CLOSE_RANGE_ALL, 0], { what: 'close the fds of the seed' });
    const first = b.add('pidfd_open', [process.pid, 0], { what: `open a pidfd of the driver ${process.pid}` });
    expect.push({ ref: first, value: 0n, what: 'the first pidfd' });
    pidfd = b.add('fcntl', [first, F.DUPFD_CLOEXEC, top], { what: `move the pidfd to ${top}` });
    expect.push({ ref: pidfd, value: BigInt(top), what: 'the moved pidfd' });
    b.add('close', [first], { what: 'close the first pidfd' });
  } else {
    if (inherited > 0) b.add('close_range', [0, inherited - 1, 0], { what: 'close the fds of the seed below the pidfd of the driver' });
    b.add('close_range', [inherited + 1, CLOSE_RANGE_ALL, 0], { what: 'close the fds of the seed above the pidfd of the driver' });
    pidfd = inherited;
    if (inherited !== top) {
      pidfd = b.add('fcntl', [inherited, F.DUPFD_CLOEXEC, top], { what: `move the pidfd of the driver to ${top}` });
      expect.push({ ref: pidfd, value: BigInt(top), what: 'the moved pidfd' });
      b.add('close', [inherited], { what: 'close the inherited pidfd of the driver' });
    }
  }
  const used = new Set<number>([top]);
  for (const fd of fds) {
    let low = 0;
    while (used.has(low)) low++;
    const cloexec = (fd.flags & FD_CLOEXEC) !== 0;
    const tmp = b.add('pidfd_getfd', [pidfd, files.fd(fd.id), 0], { what: `take fd ${fd.fd} (file ${fd.id}) from the driver` });
    expect.push({ ref: tmp, value: BigInt(low), what: `the copy of fd ${fd.fd}` });
    if (low === fd.fd) {
      b.add('fcntl', [fd.fd, F.SETFD, cloexec ? FD_CLOEXEC : 0], { what: `set the flags of fd ${fd.fd}` });
    } else {
      b.add('dup3', [tmp, fd.fd, cloexec ? O.CLOEXEC : 0], { what: `place fd ${fd.fd}` });
      b.add('close', [tmp], { what: `close the copy of fd ${fd.fd}` });
    }
    used.add(fd.fd);
  }
  b.add('close', [pidfd], { what: 'close the pidfd of the driver' });
  addEpollTargets(b, plan, task, epollsDone);
}

/** Installs the task's fds and fs (its leader stopped, its bootstrap mapped). */
export function installFiles(plan: RestorePlan, task: TaskPlan, files: DriverFiles, leader: Tracee, boot: Bootstrap, epollsDone: Set<number>, parts?: InstallParts): void {
  const { batch, expect } = fdTableBatch(plan, task, files, boot, leader.arch.nr, epollsDone, parts);
  const results = runBatch(leader, boot, batch);
  for (const e of expect) {
    if (results[e.ref.ref] !== e.value) throw new RestoreError('RESTORE_FAILED', `Task ${task.pid}: ${e.what} is fd ${results[e.ref.ref]}, not ${e.value}`, { pid: task.pid, step: 'install its files' });
  }
}

const EPOLL_CTL_ADD = 1;

/** `struct epoll_event` as x86_64 packs it: u32 events, u64 data (12 bytes). */
function epollEvent(events: number, data: bigint): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setUint32(0, events, true);
  v.setBigUint64(4, data, true);
  return out;
}

/** The targets of every epoll of the task that no earlier task set up. */
function addEpollTargets(b: Batch, plan: RestorePlan, task: TaskPlan, done: Set<number>): void {
  for (const fd of task.fds!) {
    const ep = plan.files.get(fd.id);
    if (ep?.type !== FdTypes.EVENTPOLL || done.has(fd.id)) continue;
    done.add(fd.id);
    for (const t of ep.epfd?.tfd ?? []) {
      b.add('epoll_ctl', [fd.fd, EPOLL_CTL_ADD, t.tfd, b.data.put(epollEvent(t.events, t.data))], { what: `watch fd ${t.tfd} with epoll ${fd.fd}` });
    }
  }
}

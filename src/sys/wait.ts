/**
 * Waiting for children and tracees: wait4 and waitid, with the status decoded into a discriminated
 * union. Pass `WAIT.ALL` (`__WALL`) to see threads and clone children too, as tracers must.
 *
 * A blocking wait blocks the whole JavaScript thread (and so a test's timeout): give `timeoutMs` to
 * poll with `WNOHANG` instead, sleeping between tries, until the deadline.
 */

import { CLD, PTRACE_EVENT, SIG, WAIT } from './constants.js';
import { ERRNO } from './errno.js';
import { SysError, type SysContext } from './error.js';
import { fail, lastErrno, retryEintr, sysPtr } from './libc.js';
import { allocStruct } from './layout.js';
import { decodeSiginfo, SIGINFO, type Siginfo } from './structs.js';
import { NR } from './syscalls.js';

/** A child's state change, as wait4 or waitid report it. */
export type WaitStatus =
  /** The task exited with `code`. */
  | { kind: 'exited'; code: number }
  /** A signal killed the task. */
  | { kind: 'signaled'; signal: number; coreDumped: boolean }
  /** Signal-delivery-stop (traced), or a stop by a signal (untraced, `WUNTRACED`). */
  | { kind: 'stopped'; signal: number }
  /** A syscall-stop of a tracee with `PTRACE_O_TRACESYSGOOD` (`SIGTRAP | 0x80`). */
  | { kind: 'syscall' }
  /**
   * A ptrace event stop (`PTRACE_EVENT_*` in `event`). A seized task's group-stop and the stop that
   * `PTRACE_INTERRUPT` causes are both `PTRACE_EVENT.STOP`; `signal` tells them apart (`SIGTRAP`
   * for an interrupt, the stopping signal for a group-stop).
   */
  | { kind: 'event'; event: number; signal: number }
  /** The task was resumed by SIGCONT (`WCONTINUED`). */
  | { kind: 'continued' };

/** Decodes a wait4 status word (the `WIFEXITED`/`WIFSIGNALED`/`WIFSTOPPED` family, with ptrace events). */
export function decodeWaitStatus(raw: number): WaitStatus {
  const low = raw & 0x7f;
  if (low === 0) return { kind: 'exited', code: (raw >> 8) & 0xff };
  if (raw === 0xffff) return { kind: 'continued' };
  if ((raw & 0xff) === 0x7f) return decodeStop((raw >> 8) & 0xff, (raw >> 16) & 0xffff);
  return { kind: 'signaled', signal: low, coreDumped: (raw & 0x80) !== 0 };
}

function decodeStop(signal: number, event: number): WaitStatus {
  if (event !== 0) return { kind: 'event', event, signal };
  if (signal === (SIG.TRAP | 0x80)) return { kind: 'syscall' };
  return { kind: 'stopped', signal };
}

/** A short text for a status, for messages: `'exited 0'`, `'event STOP (SIGTRAP)'`. */
export function describeWaitStatus(status: WaitStatus): string {
  switch (status.kind) {
    case 'exited':
      return `exited with code ${status.code}`;
    case 'signaled':
      return `killed by signal ${status.signal}${status.coreDumped ? ' (core dumped)' : ''}`;
    case 'stopped':
      return `stopped by signal ${status.signal}`;
    case 'syscall':
      return 'stopped at a syscall';
    case 'event': {
      const name = Object.entries(PTRACE_EVENT).find(([, v]) => v === status.event)?.[0] ?? String(status.event);
      return `stopped at ptrace event ${name} (signal ${status.signal})`;
    }
    case 'continued':
      return 'continued';
  }
}

/** Options of wait4/waitid. */
export interface WaitOptions extends SysContext {
  /** `WAIT.*` flags; `WAIT.ALL` (`__WALL`) for wait4 and `WAIT.EXITED | WAIT.ALL` for waitid when absent. */
  flags?: number;
  /**
   * Poll instead of blocking, for at most this long; a wait that sees nothing by then throws a
   * {@link SysError} with code `ETIMEDOUT`.
   */
  timeoutMs?: number;
}

/** What wait4 reports. */
export interface WaitResult {
  pid: number;
  status: WaitStatus;
  /** The raw status word. */
  raw: number;
}

/**
 * `wait4(pid, &status, options, NULL)` — waits for a state change of a child or tracee; returns null
 * when `WAIT.NOHANG` is given and nothing has changed yet. Retried on EINTR.
 */
export function wait4(pid: number, opts?: WaitOptions): WaitResult | null {
  const flags = opts?.flags ?? WAIT.ALL;
  const status = new Int32Array(1);
  const once = (f: number): number => {
    const r = retryEintr(() => sysPtr(NR.wait4, pid, status, f, null));
    if (r === -1) throw fail(lastErrno(), 'wait4', opts, { pid, call: `wait4(${pid}, 0x${(f >>> 0).toString(16)})` });
    return Number(r);
  };
  const got = opts?.timeoutMs === undefined ? once(flags) : poll(() => once(flags | WAIT.NOHANG), opts, 'wait4', pid, flags);
  if (got === 0) return null;
  return { pid: got, status: decodeWaitStatus(status[0]!), raw: status[0]! };
}

/** What waitid reports. */
export interface WaitidResult {
  pid: number;
  uid: number;
  status: WaitStatus;
  siginfo: Siginfo;
}

/**
 * `waitid(idtype, id, &info, options, NULL)` — waits for a state change (`P.PID`, `P.PIDFD`, ...);
 * returns null when `WAIT.NOHANG` is given and nothing has changed yet. Retried on EINTR.
 */
export function waitid(idtype: number, id: number, opts?: WaitOptions): WaitidResult | null {
  const flags = opts?.flags ?? WAIT.EXITED | WAIT.ALL;
  const info = allocStruct(SIGINFO);
  const once = (f: number): number => {
    info.fill(0);
    const r = retryEintr(() => sysPtr(NR.waitid, idtype, id, info, f, null));
    if (r === -1) throw fail(lastErrno(), 'waitid', opts, { pid: id, call: `waitid(${idtype}, ${id}, 0x${(f >>> 0).toString(16)})` });
    return decodeSiginfo(info).pid;
  };
  const got = opts?.timeoutMs === undefined ? once(flags) : poll(() => once(flags | WAIT.NOHANG), opts, 'waitid', id, flags);
  if (got === 0) return null;
  const si = decodeSiginfo(info);
  return { pid: si.pid, uid: si.uid, status: siginfoStatus(si), siginfo: si };
}

/** The wait status a SIGCHLD siginfo (from waitid) describes. */
export function siginfoStatus(si: Siginfo): WaitStatus {
  switch (si.code) {
    case CLD.EXITED:
      return { kind: 'exited', code: si.status };
    case CLD.KILLED:
      return { kind: 'signaled', signal: si.status, coreDumped: false };
    case CLD.DUMPED:
      return { kind: 'signaled', signal: si.status, coreDumped: true };
    case CLD.TRAPPED:
      // si_status holds the tracee's exit_code: the signal, with the event in bits 8-15.
      return decodeStop(si.status & 0xff, (si.status >> 8) & 0xff);
    case CLD.STOPPED:
      return { kind: 'stopped', signal: si.status };
    case CLD.CONTINUED:
      return { kind: 'continued' };
    default:
      throw new Error(`Unexpected SIGCHLD si_code ${si.code} from waitid`);
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps the calling thread for `ms` milliseconds (blocking). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function poll(once: () => number, opts: WaitOptions, syscall: string, pid: number, flags: number): number {
  const deadline = performance.now() + opts.timeoutMs!;
  if ((flags & WAIT.NOHANG) !== 0) return once();
  let pause = 0.05;
  for (;;) {
    const got = once();
    if (got !== 0) return got;
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new SysError({
        syscall,
        errno: ERRNO.ETIMEDOUT!,
        pid,
        what: opts.what,
        call: `${syscall}(${pid}, WNOHANG) polled for ${opts.timeoutMs} ms`,
      });
    }
    sleepSync(Math.min(pause, left));
    pause = Math.min(pause * 2, 5);
  }
}

/**
 * Running the blob in one stopped thread: what its registers are saved as, the registers that start
 * it, following it with `PTRACE_SYSCALL` to its `rt_sigreturn`, and putting a thread back by hand
 * when the parasite could not take it home itself.
 */

import { type Regs } from '../../arch/index.js';
import { isPtraceError, PtraceError, type Tracee } from '../ptrace/index.js';
import { describeWaitStatus, PTRACE_EVENT, ptraceSyscall, SIG, type WaitStatus } from '../sys/index.js';
import { InfectError } from './errors.js';

/** Every signal blocked (the kernel keeps SIGKILL and SIGSTOP deliverable anyway). */
export const ALL_SIGNALS = (1n << 64n) - 1n;

const STOP_SIGNALS = new Set<number>([SIG.STOP, SIG.TSTP, SIG.TTIN, SIG.TTOU]);

/** A thread's state as the parasite found it. */
export interface SavedThread {
  /** `NT_PRSTATUS` bytes. */
  regs: Uint8Array;
  mask: bigint;
  xstate: Uint8Array;
}

/** `PTRACE_GETREGSET` (general, extended) and `PTRACE_GETSIGMASK` of a stopped thread. */
export function saveThread(t: Tracee): SavedThread {
  return { regs: t.getRegsBytes().slice(), mask: t.getSigmask(), xstate: t.getXstate() };
}

/** The registers a sigframe must hold: a thread stopped inside a syscall is fixed up to restart it. */
export function frameRegs(t: Tracee, saved: SavedThread): Regs {
  return t.arch.restartForImage(t.arch.decodeRegs(saved.regs)).regs;
}

/**
 * `PTRACE_SETREGSET` + `PTRACE_SETSIGMASK`: starts the blob at `ip` on stack `sp` with `arg` in the
 * first argument register, every signal blocked, and any in-kernel restart cancelled.
 */
export function startThread(t: Tracee, saved: SavedThread, start: { ip: bigint; sp: bigint; arg: bigint }): void {
  const arch = t.arch;
  const conv = arch.table.syscall;
  const changes: Record<string, bigint> = { [arch.table.ip]: start.ip, [arch.table.sp]: start.sp, [conv.args[0]]: start.arg };
  if (conv.origNr !== null) changes[conv.origNr] = -1n;
  t.setRegs(arch.withRegs(arch.decodeRegs(saved.regs), changes));
  if (conv.origNr === null && conv.nrRegset !== null) t.setRegset(conv.nrRegset, new Uint8Array(Int32Array.of(-1).buffer));
  t.setSigmask(ALL_SIGNALS);
}

/**
 * `ptrace(PTRACE_SYSCALL)` + wait, again and again, until the thread has run the blob's
 * `rt_sigreturn` (the syscall-entry stop at `sigreturnIp`, then its exit stop): the thread is then
 * back on its own registers. Stop signals are passed on; any other signal is a fault
 * (`PARASITE_FAULT`, the thread left in that stop for the caller to put back). Returns the stops.
 */
export function followToSigreturn(t: Tracee, sigreturnIp: bigint, timeoutMs: number): number {
  let stops = 0;
  let entered = false;
  let signal = 0;
  for (;;) {
    ptraceSyscall(t.tid, { signal, what: `follow the parasite in ${t.name}` });
    signal = 0;
    let st: WaitStatus;
    try {
      st = t.waitStop({ timeoutMs });
    } catch (err) {
      if (!isPtraceError(err, 'STOP_TIMEOUT')) throw err;
      stopThread(t, timeoutMs);
      throw new InfectError('PARASITE_TIMEOUT', `The parasite in ${t.name} did not reach rt_sigreturn within ${timeoutMs} ms`, { tid: t.tid, pid: t.pid, cause: err });
    }
    stops++;
    if (isSyscallStop(st)) {
      if (entered) return stops;
      entered = t.arch.readReg(t.getRegsBytes(), t.arch.table.ip) === sigreturnIp;
      continue;
    }
    signal = passOn(t, st);
  }
}

/** `'syscall'`, or a bare SIGTRAP stop when the tracee was seized without TRACESYSGOOD. */
function isSyscallStop(st: WaitStatus): boolean {
  return st.kind === 'syscall' || (st.kind === 'stopped' && st.signal === SIG.TRAP);
}

/**
 * Decides what to do with a stop that is not ours while the parasite runs: a stop signal is passed
 * on (returned, to deliver at the next resume), an event (a group-stop, an interrupt) resumes as is;
 * a death is `TASK_DIED`, any other signal `PARASITE_FAULT`.
 */
export function passOn(t: Tracee, st: WaitStatus): number {
  switch (st.kind) {
    case 'exited':
    case 'signaled':
      throw new PtraceError('TASK_DIED', `${t.name} died while the parasite ran: ${describeWaitStatus(st)}`, { tid: t.tid, pid: t.pid, status: st });
    case 'event':
      if (st.event !== PTRACE_EVENT.STOP) throw fault(t, st, 0);
      return 0;
    case 'stopped':
      if (STOP_SIGNALS.has(st.signal)) return st.signal;
      throw fault(t, st, st.signal);
    default:
      return 0;
  }
}

function fault(t: Tracee, st: WaitStatus, signal: number): InfectError {
  let where = '';
  try {
    where = ` at 0x${t.arch.readReg(t.getRegsBytes(), t.arch.table.ip).toString(16)}`;
  } catch {
    // the address is a nicety
  }
  return new InfectError('PARASITE_FAULT', `The parasite in ${t.name} stopped${where}: ${describeWaitStatus(st)}`, { tid: t.tid, pid: t.pid, signal });
}

/**
 * Puts a stopped thread back by hand (the parasite faulted or never answered): its registers,
 * extended state and mask as saved. The stop it is in keeps any signal, which the next resume drops.
 */
export function restoreThread(t: Tracee, saved: SavedThread): void {
  if (t.state === 'dead' || t.state === 'detached') return;
  t.setRegsBytes(saved.regs);
  t.setXstate(saved.xstate);
  t.setSigmask(saved.mask);
}

/** Stops a thread that runs the parasite: `PTRACE_INTERRUPT`, then waits past stops not ours. */
export function stopThread(t: Tracee, timeoutMs: number): void {
  t.interrupt();
  for (;;) {
    const st = t.waitStop({ timeoutMs });
    if (st.kind === 'event' && st.event === PTRACE_EVENT.STOP) return;
    if (st.kind === 'exited' || st.kind === 'signaled') passOn(t, st);
    if (st.kind === 'stopped' && !STOP_SIGNALS.has(st.signal)) return; // a fault: stopped, for the caller
    t.cont(st.kind === 'stopped' ? st.signal : 0);
  }
}

/**
 * The switch: each thread enters its saved state through the restorer's `rt_sigreturn`, and the
 * bootstrap area goes without leaving a trace.
 *
 * Per thread: its sigframe (general registers, the full xstate, the blocked mask, the sigaltstack;
 * arch/x86_64/sigframe.ts) is written into the bootstrap, the registers rt_sigreturn does not
 * restore (fs_base, gs_base) are set with `PTRACE_SETREGSET`, and the thread runs the sigreturn
 * entry under `PTRACE_SYSCALL`: it stops at rt_sigreturn's exit, in its saved state, before it
 * runs a single instruction of its own.
 *
 * Then the leader, from that stop, runs `munmap(bootstrap)` at the blob's syscall site, again
 * under `PTRACE_SYSCALL` and with every signal blocked: at that syscall's exit stop the area is
 * gone, and the driver puts back the registers and mask rt_sigreturn gave. Returning from the
 * munmap into the unmapped site never happens, so no fault is taken, nothing is left mapped, and
 * no signal handler of the task (SIGSEGV's included) is touched. Option (a) of the design notes,
 * with the syscall-exit stop in place of the fault.
 */
import type { Regs } from '../../arch/index.js';
import { PtraceError, type Tracee } from '../ptrace/index.js';
import { describeWaitStatus } from '../sys/index.js';
import type { RestoreArch } from './arch.js';
import type { Bootstrap } from './bootstrap.js';
import { RestoreError } from './errors.js';
import type { DeferredSigaction } from './state.js';

const ALL_SIGNALS = (1n << 64n) - 1n;
const SIGSET_BYTES = 8;

/** Where a thread's switch starts: its core image and what goes in the frame. */
export interface ThreadSwitch {
  regs: Regs;
  xstate: Uint8Array;
  sigmask: bigint;
  altstack?: { sp: bigint; flags: number; size: bigint };
  /** The frame slot in the bootstrap. */
  slot: number;
}

/** Enters `t` into its saved state (it stops at rt_sigreturn's exit). */
export function enterThread(t: Tracee, boot: Bootstrap, arch: RestoreArch, sw: ThreadSwitch): void {
  const address = boot.frame(sw.slot);
  const frame = arch.buildFrame(sw.altstack === undefined
    ? { regs: sw.regs, sigmask: sw.sigmask, xstate: sw.xstate, address }
    : { regs: sw.regs, sigmask: sw.sigmask, xstate: sw.xstate, address, altstack: sw.altstack });
  t.writeMemory(address, frame.bytes);
  const ops = t.arch;
  const changes: Record<string, bigint> = {
    [ops.table.ip]: boot.sigreturnEntry,
    [ops.table.syscall.args[0]]: frame.sigreturnSp,
    [arch.origNr]: -1n,
  };
  for (const name of arch.outsideFrame) changes[name] = sw.regs[name]!;
  t.setRegs(ops.withRegs(t.getRegs(), changes));
  syscallStops(t, ops.nr.rt_sigreturn, 'rt_sigreturn');
  const ip = t.getRegs()[ops.table.ip]!;
  if (ip !== sw.regs[ops.table.ip]) {
    throw new RestoreError('RESTORE_FAILED', `${cap(t.name)} came out of rt_sigreturn at 0x${ip.toString(16)}, not at its saved 0x${sw.regs[ops.table.ip]!.toString(16)}`, { pid: t.pid, step: 'enter its saved state' });
  }
}

/**
 * From the leader's stop at rt_sigreturn's exit: the deferred sigaction (if any), then
 * `munmap(bootstrap)`, each as one syscall at the site under PTRACE_SYSCALL with every signal
 * blocked; then the saved registers and mask back. The task is left in its exit stop.
 */
export function dropBootstrap(leader: Tracee, boot: Bootstrap, deferred: DeferredSigaction | null): void {
  const saved = leader.getRegsBytes().slice();
  const mask = leader.getSigmask();
  leader.setSigmask(ALL_SIGNALS);
  if (deferred !== null) {
    leader.writeMemory(boot.frame(0), deferred.act);
    const r = syscallAtSite(leader, boot.site, 'rt_sigaction', [deferred.signal, boot.frame(0), 0, SIGSET_BYTES]);
    if (r !== 0n) throw new RestoreError('RESTORE_FAILED', `Task ${leader.pid}: rt_sigaction(${deferred.signal}) failed: ${r}`, { pid: leader.pid, step: 'set its last signal action' });
  }
  const r = syscallAtSite(leader, boot.site, 'munmap', [boot.start, BigInt(boot.size)]);
  if (r !== 0n) throw new RestoreError('RESTORE_FAILED', `Task ${leader.pid}: munmap of the bootstrap area failed: ${r}`, { pid: leader.pid, step: 'unmap the bootstrap area' });
  leader.setRegsBytes(saved);
  leader.setSigmask(mask);
}

/** One syscall at `site`, from a stop, run to its exit stop (the site is never returned to). */
function syscallAtSite(t: Tracee, site: bigint, name: 'munmap' | 'rt_sigaction', args: Array<bigint | number>): bigint {
  const ops = t.arch;
  const nr = ops.nr[name];
  t.setRegs(ops.setupSyscall(t.getRegs(), { nr, args, ip: site }));
  syscallStops(t, nr, name);
  return ops.syscallResult(t.getRegs());
}

/** PTRACE_SYSCALL to the entry stop of syscall `nr`, then to its exit stop. */
function syscallStops(t: Tracee, nr: number, name: string): void {
  for (const edge of ['entry', 'exit'] as const) {
    t.resumeToSyscall(0);
    for (;;) {
      const st = t.waitStop({ timeoutMs: 10_000 });
      if (st.kind === 'exited' || st.kind === 'signaled') {
        throw new PtraceError('TASK_DIED', `${cap(t.name)} died at the ${edge} of ${name}: ${describeWaitStatus(st)}`, { tid: t.tid, pid: t.pid, status: st });
      }
      if (st.kind === 'syscall') break;
      if (st.kind === 'stopped') {
        const ip = t.getRegs()[t.arch.table.ip]!;
        throw new RestoreError('RESTORE_FAILED', `${cap(t.name)} got signal ${st.signal} at 0x${ip.toString(16)} before the ${edge} of ${name}`, { pid: t.pid, step: 'enter its saved state' });
      }
      t.resumeToSyscall(0); // an event stop: go on to the syscall stop
    }
    if (edge === 'entry') {
      const got = t.arch.syscallNr(t.getRegs());
      if (got !== null && got !== nr) throw new RestoreError('RESTORE_FAILED', `${cap(t.name)} entered syscall ${got}, not ${name}`, { pid: t.pid, step: 'enter its saved state' });
    }
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

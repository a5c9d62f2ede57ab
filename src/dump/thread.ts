/**
 * What the driver reads of one stopped thread from outside (ptrace and /proc): registers fixed up
 * for an image (an interrupted syscall is restarted on restore), the extended state, TLS slots,
 * blocked mask, robust-futex list, rseq registration, scheduling, credentials, comm, and pending
 * signals. The parasite's per-thread MISC (altstack, clear-tid address) is added by the caller.
 */
import { readFileSync } from 'node:fs';
import type { ArchOps } from '../../arch/arch_ops.js';
import type { CoreImageArch } from '../../arch/core_image.js';
import type { MiscResult } from '../../parasite/protocol.js';
import type { Tracee } from '../ptrace/index.js';
import { isSysError, ptrace, ptraceGetRseqConfiguration, ptracePeekSiginfo, syscall, type RseqConfiguration } from '../sys/index.js';
import type { ThreadFacts } from './core.js';
import { readCreds, readSched } from './task_state.js';

const PTRACE_GET_THREAD_AREA = 25;
const PENDING_BATCH = 64;

/** Every siginfo queued for `tid` (private) or its whole process (shared), without taking them. */
export function pendingSignals(tid: number, shared: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (;;) {
    const batch = ptracePeekSiginfo(tid, { offset: out.length, count: PENDING_BATCH, shared, what: `read the pending signals of ${tid}` });
    out.push(...batch.map((s) => Buffer.from(s.raw)));
    if (batch.length < PENDING_BATCH) return out;
  }
}

/** The process-wide pending signals of task `pid`. */
export function sharedPending(pid: number): Buffer[] {
  return pendingSignals(pid, true);
}

function robustList(tid: number): { head: bigint; len: number } {
  const head = new BigUint64Array(1);
  const len = new BigUint64Array(1);
  syscall('get_robust_list', tid, head, len);
  return { head: head[0]!, len: Number(len[0]!) };
}

function rseqOf(tid: number): RseqConfiguration | undefined {
  try {
    return ptraceGetRseqConfiguration(tid, { what: `read the rseq registration of ${tid}` });
  } catch (err) {
    if (isSysError(err, 'EIO') || isSysError(err, 'EINVAL')) return undefined; // a kernel without it
    throw err;
  }
}

const NO_MISC: MiscResult = { valid: 0n, firstError: 0, firstErrorItem: 0, itimers: {}, rlimits: [] };

/** Reads one thread (`tracee`, stopped) of process `pid`. */
export function readThread(pid: number, tracee: Tracee, arch: ArchOps, coreArch: CoreImageArch): ThreadFacts & { misc: MiscResult } {
  const tid = tracee.tid;
  const { regs } = arch.restartForImage(tracee.getRegs());
  const tls = coreArch.tlsSlots.map((slot) => {
    const desc = new Uint8Array(16);
    ptrace(PTRACE_GET_THREAD_AREA, tid, { addr: slot, data: desc, what: `read TLS slot ${slot} of ${tid}` });
    return desc;
  });
  return {
    tid,
    comm: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, ''),
    registers: { regs, xstate: tracee.getXstate(), tls, clearTidAddress: 0n },
    blockedMask: tracee.getSigmask(),
    misc: NO_MISC,
    sched: readSched(tid),
    creds: readCreds(pid, tid),
    robustList: robustList(tid),
    rseq: rseqOf(tid),
    pending: pendingSignals(tid, false),
  };
}

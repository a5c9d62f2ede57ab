/**
 * Seccomp: each thread gets back its mode and, in filter mode, its chain of filters from
 * seccomp.img (its core names its newest filter; each filter names the one below it).
 *
 * The filters are installed in each thread's own last batch (src/restore/state.ts), oldest
 * first with `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`, before its credentials (so the
 * task is still privileged enough to install them without no_new_privs). When every thread of a
 * task has the same chain, the leader installs it once with SECCOMP_FILTER_FLAG_TSYNC, so that
 * the threads share it again (CRIU does the same); otherwise each thread installs its own chain.
 * Strict mode is `seccomp(SECCOMP_SET_MODE_STRICT)`.
 *
 * The restore goes on in those threads after that (their switch, the leader's munmap of the
 * bootstrap): their filters must not judge those calls. So, before the first filter goes in,
 * every thread of the task is given `PTRACE_O_SUSPEND_SECCOMP`; the detach at the very end drops
 * the option, and from then on the filters act. A check reads each thread's mode and filter
 * count back from /proc/PID/task/TID/status.
 */
import { readFileSync } from 'node:fs';
import type { SeccompFilter } from '../images/generated/types.js';
import type { Tracee } from '../ptrace/index.js';
import { PTRACE_O, ptraceSetOptions } from '../sys/index.js';
import type { Batch } from './batch.js';
import { RestoreError } from './errors.js';
import type { RestorePlan, TaskPlan } from './plan.js';
import { SEED_OPTIONS } from './seed.js';

/** thread_core.seccomp_mode. */
export const SECCOMP_MODE = { DISABLED: 0, STRICT: 1, FILTER: 2 } as const;
/** seccomp(2) operations and flags. */
const SECCOMP = { SET_MODE_STRICT: 0, SET_MODE_FILTER: 1, FLAG_TSYNC: 1 } as const;
/** BPF_MAXINSNS: a filter's length limit (8-byte instructions). */
const MAX_INSNS = 4096;

/** What one thread installs, if anything. */
export type SeccompStep = { kind: 'strict' } | { kind: 'filter'; chain: SeccompFilter[]; tsync: boolean };

/** The chain ending at filter `index`, oldest first; throws on a bad index or a loop. */
export function filterChain(plan: RestorePlan, index: number, where: { pid: number; image: string }): SeccompFilter[] {
  const chain: SeccompFilter[] = [];
  const seen = new Set<number>();
  for (let i: number | undefined = index; i !== undefined; i = plan.seccompFilters[i]!.prev) {
    if (seen.has(i) || plan.seccompFilters[i] === undefined) {
      throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${where.pid} (${where.image}): seccomp filter ${i} ${seen.has(i) ? 'is in a loop of filters' : 'is not in seccomp.img'}`, { pid: where.pid, image: where.image });
    }
    const f = plan.seccompFilters[i]!;
    if (f.filter.byteLength === 0 || f.filter.byteLength % 8 !== 0 || f.filter.byteLength / 8 > MAX_INSNS) {
      throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${where.pid}: seccomp filter ${i} is ${f.filter.byteLength} bytes, not 1 to ${MAX_INSNS} BPF instructions`, { pid: where.pid, image: 'seccomp.img' });
    }
    seen.add(i);
    chain.unshift(f);
  }
  return chain;
}

/** Checks every thread's seccomp state can be restored (RESTORE_UNSUPPORTED otherwise). */
export function checkSeccomp(plan: RestorePlan, task: TaskPlan): void {
  seccompSteps(plan, task);
}

/** What each thread of `task` installs (by thread index); all null when it has no seccomp. */
export function seccompSteps(plan: RestorePlan, task: TaskPlan): Array<SeccompStep | null> {
  const modes = task.threads.map((t) => {
    const tc = t.core.thread_core;
    const mode = tc?.seccomp_mode ?? SECCOMP_MODE.DISABLED;
    if (mode !== SECCOMP_MODE.DISABLED && mode !== SECCOMP_MODE.STRICT && mode !== SECCOMP_MODE.FILTER) {
      throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid} (${t.image}): thread ${t.tid} is in seccomp mode ${mode}, which does not exist`, { pid: task.pid, image: t.image });
    }
    return { mode, filter: tc?.seccomp_filter ?? 0, image: t.image };
  });
  if (modes.every((m) => m.mode === SECCOMP_MODE.DISABLED)) return modes.map(() => null);
  const chainOf = (m: (typeof modes)[number]) => filterChain(plan, m.filter, { pid: task.pid, image: m.image });
  const first = modes[0]!;
  const shared = modes.length > 1 && modes.every((m) => m.mode === SECCOMP_MODE.FILTER && m.filter === first.filter);
  if (shared) return modes.map((m, i) => (i === 0 ? { kind: 'filter', chain: chainOf(m), tsync: true } : null));
  return modes.map((m) => (m.mode === SECCOMP_MODE.STRICT ? { kind: 'strict' } : m.mode === SECCOMP_MODE.FILTER ? { kind: 'filter', chain: chainOf(m), tsync: false } : null));
}

/** `struct sock_fprog` of a 64-bit kernel: u16 instruction count, padding, u64 pointer. */
function sockFprog(insns: number, filter: bigint): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint16(0, insns, true);
  v.setBigUint64(8, filter, true);
  return out;
}

/** Adds the records of `step` to a thread's batch. */
export function addSeccompRecords(b: Batch, step: SeccompStep): void {
  if (step.kind === 'strict') {
    b.add('seccomp', [SECCOMP.SET_MODE_STRICT, 0, 0], { what: 'enter seccomp strict mode' });
    return;
  }
  step.chain.forEach((f, i) => {
    const flags = ((f.flags ?? 0) & ~SECCOMP.FLAG_TSYNC) | (step.tsync ? SECCOMP.FLAG_TSYNC : 0);
    const prog = b.data.put(sockFprog(f.filter.byteLength / 8, b.data.put(f.filter)));
    b.add('seccomp', [SECCOMP.SET_MODE_FILTER, flags, prog], { what: `install seccomp filter ${i + 1} of ${step.chain.length}${step.tsync ? ' in every thread' : ''}` });
  });
}

/** `PTRACE_SETOPTIONS` with PTRACE_O_SUSPEND_SECCOMP on every thread: their filters wait for the detach. */
export function suspendSeccomp(threads: readonly Tracee[]): void {
  for (const t of threads) ptraceSetOptions(t.tid, SEED_OPTIONS | PTRACE_O.SUSPEND_SECCOMP, { what: `suspend the seccomp filters of ${t.name}` });
}

/** Data bytes the largest thread batch of `task` needs for its filters (at most the whole image). */
export function seccompDataBytes(plan: RestorePlan): number {
  return plan.seccompFilters.reduce((n, f) => n + f.filter.byteLength + 32, 0);
}

/** Reads `Seccomp:` and `Seccomp_filters:` of each thread back: they must be the image's. */
export function verifySeccomp(task: TaskPlan, threads: readonly Tracee[], steps: ReadonlyArray<SeccompStep | null>): void {
  const shared = steps[0]?.kind === 'filter' && steps[0].tsync;
  threads.forEach((t, i) => {
    const step = shared ? steps[0]! : steps[i];
    const want = step === null || step === undefined ? { mode: 0, filters: 0 } : step.kind === 'strict' ? { mode: 1, filters: 0 } : { mode: 2, filters: step.chain.length };
    const status = readFileSync(`/proc/${t.pid}/task/${t.tid}/status`, 'utf8');
    const mode = Number(/^Seccomp:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    const filters = Number(/^Seccomp_filters:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    if (mode !== want.mode || filters !== want.filters) {
      throw new RestoreError('RESTORE_FAILED', `Thread ${task.threads[i]!.tid} of task ${task.pid} has seccomp mode ${mode} with ${filters} filter(s), the image says mode ${want.mode} with ${want.filters}`, { pid: task.pid, image: task.threads[i]!.image, step: 'restore its seccomp filters' });
    }
  });
}

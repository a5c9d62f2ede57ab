/** Probes of ptrace: seizing a task, its register sets, and the requests dump relies on. */
import {
  NT, PTRACE_O, hostArch, isSysError, ptraceDetach, ptraceGetRegset, ptraceGetRseqConfiguration, ptraceInterrupt,
  ptracePeekSiginfo, ptraceSeccompGetFilter, ptraceSeize, wait4,
} from '../../src/sys/index.js';
import type { ProbeContext } from '../context.js';
import { missing, supported, type FeatureProbe, type ProbeResult } from '../probe.js';

/** Seizes the context's target, stops it, runs `fn` on the stopped task, and lets it go. */
function withStoppedTarget(ctx: ProbeContext, options: number, fn: (pid: number) => ProbeResult): ProbeResult {
  const pid = ctx.target();
  ptraceSeize(pid, { options, what: 'seize the probe target' });
  try {
    ptraceInterrupt(pid, { what: 'stop the probe target' });
    const stop = wait4(pid, { timeoutMs: 5000, what: 'wait for the probe target to stop' });
    if (stop === null || stop.status.kind === 'exited' || stop.status.kind === 'signaled') {
      return missing(`the seized task did not stop (${stop ? stop.status.kind : 'timed out'})`);
    }
    return fn(pid);
  } finally {
    ptraceDetach(pid, { what: 'release the probe target' });
  }
}

const reason = (err: unknown) => (isSysError(err) ? `${err.syscall} failed with ${err.code}` : String(err));

function guarded(fn: (ctx: ProbeContext) => ProbeResult): (ctx: ProbeContext) => ProbeResult {
  return (ctx) => {
    try {
      return fn(ctx);
    } catch (err) {
      return missing(reason(err));
    }
  };
}

export const PTRACE_PROBES: FeatureProbe[] = [
  {
    name: 'ptrace_seize',
    category: 'required',
    description: 'PTRACE_SEIZE + PTRACE_INTERRUPT + wait4(__WALL) + PTRACE_DETACH on another task',
    probe: guarded((ctx) => withStoppedTarget(ctx, PTRACE_O.TRACESYSGOOD, () => supported())),
  },
  {
    name: 'xstate',
    category: 'required',
    description: 'PTRACE_GETREGSET of the full FPU/vector state (NT_X86_XSTATE; NT_PRFPREG on aarch64)',
    probe: guarded((ctx) =>
      withStoppedTarget(ctx, 0, (pid) => {
        const note = hostArch() === 'x86_64' ? NT.X86_XSTATE : NT.PRFPREG;
        const regs = ptraceGetRegset(pid, note, { size: 64 * 1024, what: 'read the probe target xstate' });
        return supported(`${regs.length} bytes`, regs.length);
      }),
    ),
  },
  {
    name: 'ptrace_peeksiginfo',
    category: 'required',
    description: 'PTRACE_PEEKSIGINFO, to save pending signals without taking them',
    probe: guarded((ctx) =>
      withStoppedTarget(ctx, 0, (pid) => {
        const pending = ptracePeekSiginfo(pid, { count: 8, what: 'peek the probe target signals' });
        return supported(`${pending.length} pending`);
      }),
    ),
  },
  {
    name: 'seccomp_suspend',
    category: 'extra',
    description: 'PTRACE_O_SUSPEND_SECCOMP, to run the parasite in a task under a seccomp filter',
    probe: guarded((ctx) => withStoppedTarget(ctx, PTRACE_O.SUSPEND_SECCOMP, () => supported())),
  },
  {
    name: 'seccomp_filters',
    category: 'extra',
    description: 'PTRACE_SECCOMP_GET_FILTER, to dump seccomp filters',
    probe: guarded((ctx) =>
      withStoppedTarget(ctx, 0, (pid) => {
        try {
          ptraceSeccompGetFilter(pid, 0, { what: 'read the probe target seccomp filter' });
          return supported();
        } catch (err) {
          // The target has no filter: a kernel with the request answers EINVAL (not in filter
          // mode) or ENOENT; one without it answers EIO.
          if (isSysError(err) && (err.code === 'EINVAL' || err.code === 'ENOENT')) return supported('probe target has no filter');
          return missing(reason(err));
        }
      }),
    ),
  },
  {
    name: 'get_rseq_conf',
    category: 'extra',
    description: "PTRACE_GET_RSEQ_CONFIGURATION, to dump a thread's rseq registration",
    probe: guarded((ctx) =>
      withStoppedTarget(ctx, 0, (pid) => {
        const conf = ptraceGetRseqConfiguration(pid, { what: 'read the probe target rseq registration' });
        return supported(`rseq area of ${conf.rseqAbiSize} bytes`, conf.rseqAbiSize);
      }),
    ),
  },
];

export { guarded, reason };

/** Probes of per-thread CPU state that restore must put back: rseq and the shadow stack. */
import { readFileSync } from 'node:fs';
import { hostArch, isSysError, syscall } from '../../src/sys/index.js';
import { missing, supported, type FeatureProbe } from '../probe.js';
import { guarded, reason } from './ptrace.js';

const AT_RSEQ_FEATURE_SIZE = 27n;
const ARCH_SHSTK_STATUS = 0x5005;
const X86_64_NR_ARCH_PRCTL = 158; // x86-only, so not in the two-column syscall table

/** A value from our own auxiliary vector, or undefined. */
function auxv(type: bigint): bigint | undefined {
  const words = new BigUint64Array(new Uint8Array(readFileSync('/proc/self/auxv')).buffer);
  for (let i = 0; i + 1 < words.length; i += 2) if (words[i] === type) return words[i + 1];
  return undefined;
}

export const CPU_PROBES: FeatureProbe[] = [
  {
    name: 'rseq',
    category: 'extra',
    description: 'restartable sequences (glibc registers one per thread; restore registers it again)',
    probe: guarded(() => {
      try {
        syscall('rseq', 0, 0, 0, 0); // no area, no flags: EINVAL from a kernel that has rseq
      } catch (err) {
        if (!isSysError(err) || err.code !== 'EINVAL') return missing(reason(err));
      }
      const size = auxv(AT_RSEQ_FEATURE_SIZE);
      return supported(size === undefined ? 'rseq syscall' : `feature size ${size}`, size === undefined ? null : Number(size));
    }),
  },
  {
    name: 'shadow_stack',
    category: 'extra',
    description: 'x86 user shadow stacks (CET): the CPU feature and arch_prctl(ARCH_SHSTK_STATUS)',
    probe: guarded(() => {
      if (hostArch() !== 'x86_64') return missing('probed on x86_64 only');
      const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
      if (!flags.includes('user_shstk')) return missing('the CPU (or the kernel) does not offer user_shstk');
      const status = new BigUint64Array(1);
      syscall(X86_64_NR_ARCH_PRCTL, ARCH_SHSTK_STATUS, status);
      return supported(`status 0x${status[0]!.toString(16)}`);
    }),
  },
];

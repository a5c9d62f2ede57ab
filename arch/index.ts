/**
 * The architectures criu-ts knows, each as one {@link ArchOps}; {@link hostArchOps} is the one this
 * machine runs (`process.arch`, through `hostArch()`). Generic code asks it and never names an arch.
 */

import { hostArch, type Arch } from '../src/sys/index.js';
import { aarch64 } from './aarch64/ops.js';
import type { ArchOps } from './arch_ops.js';
import { x86_64 } from './x86_64/ops.js';

export type { ArchOps, ArchTable, InterruptedSyscall, Regs, RestartFixup, SyscallConvention, SyscallSetup } from './arch_ops.js';
export { RESTART_CODES } from './arch_ops.js';

const ALL: Readonly<Record<Arch, ArchOps>> = Object.freeze({ x86_64, aarch64 });

/** The {@link ArchOps} of a named architecture (for reading another machine's images). */
export function archOps(arch: Arch): ArchOps {
  return ALL[arch];
}

let host: ArchOps | null = null;

/** The {@link ArchOps} of the machine this process runs on. */
export function hostArchOps(): ArchOps {
  host ??= ALL[hostArch()];
  return host;
}

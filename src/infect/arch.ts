/**
 * The parasite of each architecture, as a table: generic code asks for the host's entry and never
 * names an arch. aarch64 has none yet.
 */

import { X86_64_PARASITE, type ParasiteArch } from '../../arch/x86_64/parasite.js';
import { type Arch } from '../sys/index.js';
import { InfectError } from './errors.js';

const PARASITES: Readonly<Record<Arch, ParasiteArch | null>> = Object.freeze({ x86_64: X86_64_PARASITE, aarch64: null });

/** The parasite of `arch`; `INFECT_UNSUPPORTED_ARCH` when there is none. */
export function parasiteArch(arch: Arch, tid: number): ParasiteArch {
  const p = PARASITES[arch];
  if (p === null) throw new InfectError('INFECT_UNSUPPORTED_ARCH', `There is no ${arch} parasite yet`, { tid });
  return p;
}

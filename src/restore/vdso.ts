/**
 * The vDSO and its data pages, CRIU's way: a new task already has this kernel's `[vvar]`
 * (`[vvar_vclock]`) and `[vdso]`; when their sizes are the image's, they are moved with `mremap`
 * to where the image has them — first parked inside the bootstrap area while the old mappings go,
 * then moved to the image's addresses once the image's areas are in place. The dumped vDSO pages
 * are not written back: the kernel's own pages are the right ones.
 */
import type { MapsEntry } from '../proc/index.js';
import type { VmaEntry } from '../images/generated/types.js';
import { VMA } from './constants.js';
import { RestoreError } from './errors.js';

/** One mapping to move: from its address now, to the park, then to the image's address. */
export interface VdsoMove {
  name: string;
  from: bigint;
  len: bigint;
  /** Offset in the park area. */
  parkOffset: bigint;
  to: bigint;
}

/** How the vDSO of a task is brought to the image's place. */
export interface VdsoPlan {
  moves: VdsoMove[];
  /** Bytes of park the moves need. */
  parkBytes: bigint;
  /** The image's vDSO and vvar areas (their pages are not read from the image). */
  skip: Array<{ start: bigint; end: bigint }>;
}

const DATA_NAMES = ['[vvar]', '[vvar_vclock]'];

/**
 * Matches the task's current vDSO mappings with the image's areas. The data pages are one area in
 * the image ([vvar] and [vvar_vclock] merged, as CRIU and our dump write them) and one or two
 * mappings now: their total sizes must be equal, and so must the vDSO's (VDSO_MISMATCH otherwise).
 */
export function planVdso(pid: number, image: readonly VmaEntry[], current: readonly MapsEntry[]): VdsoPlan {
  const imgVdso = image.find((v) => v.status & VMA.AREA_VDSO);
  const imgVvar = image.find((v) => v.status & VMA.AREA_VVAR);
  const skip = [imgVdso, imgVvar].filter((v): v is VmaEntry => v !== undefined).map((v) => ({ start: v.start, end: v.end }));
  if (imgVdso === undefined && imgVvar === undefined) return { moves: [], parkBytes: 0n, skip };
  const curVdso = current.find((m) => m.path === '[vdso]');
  const curData = current.filter((m) => m.path !== undefined && DATA_NAMES.includes(m.path)).sort((a, b) => (a.start < b.start ? -1 : 1));
  const moves: VdsoMove[] = [];
  let park = 0n;
  if (imgVvar !== undefined) {
    const have = curData.reduce((n, m) => n + (m.end - m.start), 0n);
    if (have !== imgVvar.end - imgVvar.start) {
      throw new RestoreError('VDSO_MISMATCH', `Task ${pid}: the image's vDSO data pages are ${imgVvar.end - imgVvar.start} bytes, this kernel's ${have}`, { pid });
    }
    let at = imgVvar.start;
    for (const m of curData) {
      moves.push({ name: m.path!, from: m.start, len: m.end - m.start, parkOffset: park, to: at });
      park += m.end - m.start;
      at += m.end - m.start;
    }
  }
  if (imgVdso !== undefined) {
    if (curVdso === undefined || curVdso.end - curVdso.start !== imgVdso.end - imgVdso.start) {
      const have = curVdso === undefined ? 'none' : `${curVdso.end - curVdso.start} bytes`;
      throw new RestoreError('VDSO_MISMATCH', `Task ${pid}: the image's vDSO is ${imgVdso.end - imgVdso.start} bytes, this kernel's ${have}`, { pid });
    }
    moves.push({ name: '[vdso]', from: curVdso.start, len: curVdso.end - curVdso.start, parkOffset: park, to: imgVdso.start });
    park += curVdso.end - curVdso.start;
  }
  return { moves, parkBytes: park, skip };
}

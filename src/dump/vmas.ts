/**
 * A task's memory areas as CRIU's vma_entry records, classified the way CRIU does from
 * /proc/PID/smaps and /proc/PID/map_files: regular file mappings (private or shared), anonymous
 * private and shared memory, the heap, the vDSO and its data pages, vsyscall.
 *
 * What it does not fill in: `shmid` of file mappings is the id of a file the caller registers
 * (see `MappedFile`), so it is left 0 here and set by `assignFileIds`.
 */
import { statSync, type BigIntStats } from 'node:fs';
import { CriuTsError } from '../errors.js';
import type { VmaEntry } from '../images/generated/types.js';
import { VMA } from '../images/vma_status.js';
import { readSmaps, type SmapsEntry } from '../proc/index.js';
import { MAP, PROT, mmap, munmap, pageSize } from '../sys/index.js';

export { VMA };

// madvise() advice numbers, stored in vma_entry.madv as bits (1 << advice).
const MADV_BY_VMFLAG: Record<string, number> = { sr: 2, rr: 1, dc: 10, dd: 16, mg: 12, hg: 14, nh: 15 };
const MAP_BY_VMFLAG: Record<string, number> = { gd: 0x100, lo: 0x2000, nr: 0x4000, ht: 0x40000 };
const O_RDONLY = 0;
const O_RDWR = 2;

export type VmaErrorCode = 'VMA_UNSUPPORTED';

export class VmaError extends CriuTsError {
  constructor(pid: number, area: SmapsEntry, what: string) {
    super('VMA_UNSUPPORTED', `task ${pid}: mapping ${area.start.toString(16)}-${area.end.toString(16)} ${area.path ?? ''}: ${what}`);
  }
}

/** A file behind a mapping, for the caller to register as a regular file (files.img). */
export interface MappedFile {
  /** The index of the vma_entry this file backs (in the returned list). */
  vmaIndex: number;
  /** How the task names it (its path in /proc/PID/maps). */
  path: string;
  deleted: boolean;
  /** stat() of the file through /proc/PID/map_files (dev, ino, mode, size). */
  stat: BigIntStats;
  /** The dev:ino pair, a key for "same file". */
  key: string;
}

export interface TaskVmas {
  vmas: VmaEntry[];
  files: MappedFile[];
}

let shmemDev: bigint | undefined;

/** The device of shared anonymous memory (and SysV shm) on this kernel: probed once. */
export function anonSharedDevice(): bigint {
  if (shmemDev === undefined) {
    const size = pageSize();
    const addr = mmap(size, { flags: MAP.SHARED | MAP.ANONYMOUS, prot: PROT.READ, what: 'probe the shmem device' });
    try {
      const name = `${addr.toString(16)}-${(addr + BigInt(size)).toString(16)}`;
      shmemDev = statSync(`/proc/self/map_files/${name}`, { bigint: true }).dev;
    } finally {
      munmap(addr, size);
    }
  }
  return shmemDev;
}

function statMapped(pid: number, area: SmapsEntry): BigIntStats | undefined {
  try {
    return statSync(`/proc/${pid}/map_files/${area.start.toString(16)}-${area.end.toString(16)}`, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // no file behind it
    throw err;
  }
}

/** Reads and classifies every memory area of a task. */
export function collectVmas(pid: number): TaskVmas {
  const areas = readSmaps(pid);
  const vmas: VmaEntry[] = [];
  const files: MappedFile[] = [];

  for (const area of areas) {
    const vma: VmaEntry = {
      start: area.start,
      end: area.end,
      pgoff: area.offset,
      shmid: 0n,
      prot: (area.read ? PROT.READ : 0) | (area.write ? PROT.WRITE : 0) | (area.exec ? PROT.EXEC : 0),
      flags: area.shared ? MAP.SHARED : MAP.PRIVATE,
      status: 0,
      fd: -1n,
    };
    let madv = 0n;
    for (const flag of area.vmFlags) {
      if (MAP_BY_VMFLAG[flag] !== undefined) vma.flags |= MAP_BY_VMFLAG[flag]!;
      if (MADV_BY_VMFLAG[flag] !== undefined) madv |= 1n << BigInt(MADV_BY_VMFLAG[flag]!);
    }
    if (madv !== 0n) vma.madv = madv;
    const path = area.path ?? '';

    if (path === '[vvar_vclock]' && vmas.length > 0 && (vmas[vmas.length - 1]!.status & VMA.AREA_VVAR) && vmas[vmas.length - 1]!.end === area.start) {
      // The kernel splits the vDSO data into [vvar] and [vvar_vclock]; they are one area to restore.
      vmas[vmas.length - 1]!.end = area.end;
      continue;
    }
    const mapped = path.startsWith('[') ? undefined : statMapped(pid, area);
    if (path === '[vsyscall]' || path === '[vectors]') {
      vma.status = VMA.AREA_VSYSCALL;
    } else if (path === '[vdso]') {
      vma.status = VMA.AREA_REGULAR | (area.read && area.exec ? VMA.AREA_VDSO : 0);
    } else if (path === '[vvar]' || path === '[vvar_vclock]') {
      vma.status = VMA.AREA_REGULAR | (area.read ? VMA.AREA_VVAR : 0);
    } else if (path === '[heap]') {
      vma.status = VMA.AREA_REGULAR | VMA.AREA_HEAP;
    } else {
      vma.status = VMA.AREA_REGULAR;
    }
    if ((area.vmFlags.has('io') || area.vmFlags.has('pf')) && !(vma.status & VMA.AREA_VVAR)) {
      throw new VmaError(pid, area, 'VM_IO/VM_PFNMAP memory (a device mapping) cannot be dumped');
    }

    if (mapped !== undefined) {
      const isReg = (mapped.mode & 0o170000n) === 0o100000n;
      if (mapped.dev === anonSharedDevice()) {
        if (!area.shared) throw new VmaError(pid, area, 'a private mapping of shared memory');
        vma.flags |= MAP.ANONYMOUS;
        vma.status |= VMA.ANON_SHARED | (path.startsWith('/SYSV') ? VMA.AREA_SYSVIPC : 0);
        vma.shmid = mapped.ino;
      } else if ((mapped.mode & 0o170000n) === 0o140000n) {
        throw new VmaError(pid, area, 'a mapped socket (a packet socket ring, a TCP zero-copy area), which is not dumped');
      } else if (!isReg) {
        throw new VmaError(pid, area, `a mapping of a non-regular file (mode 0o${mapped.mode.toString(8)})`);
      } else {
        vma.status |= area.shared ? VMA.FILE_SHARED : VMA.FILE_PRIVATE;
        vma.fdflags = area.shared && area.vmFlags.has('mw') ? O_RDWR : O_RDONLY;
        files.push({ vmaIndex: vmas.length, path, deleted: area.deleted, stat: mapped, key: `${mapped.dev}:${mapped.ino}` });
      }
    } else {
      if (area.shared) {
        vma.status |= VMA.ANON_SHARED;
        vma.shmid = area.inode;
      } else {
        vma.status |= VMA.ANON_PRIVATE;
      }
      vma.flags |= MAP.ANONYMOUS;
    }

    // A stack that grows down is recorded as /proc shows it: the kernel keeps its guard gap outside
    // the area (since 4.12), and CRIU 4.2 writes it so (see the conformance sleep image).
    vmas.push(vma);
  }
  return { vmas, files };
}

/** Sets the `shmid` of file mappings to the ids `idOf` gives their files. */
export function assignFileIds(task: TaskVmas, idOf: (file: MappedFile) => number): void {
  for (const file of task.files) task.vmas[file.vmaIndex]!.shmid = BigInt(idOf(file));
}

/** Whether the pages of an area are dumped at all (CRIU: private memory and shared anon; not vvar). */
export function vmaHasDumpablePages(vma: VmaEntry): boolean {
  if (vma.status & (VMA.AREA_VVAR | VMA.AREA_VSYSCALL)) return false;
  if (!(vma.status & VMA.AREA_REGULAR)) return false;
  return (vma.status & (VMA.ANON_PRIVATE | VMA.FILE_PRIVATE | VMA.ANON_SHARED)) !== 0;
}

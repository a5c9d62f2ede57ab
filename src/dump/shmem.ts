/**
 * Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, and /dev/zero shared mappings): its pages
 * are dumped once per segment however many tasks map it, into pagemap-shmem-SHMID.img and a
 * pages image of their own, as CRIU does. The driver opens the segment itself through
 * /proc/PID/map_files, finds the populated pages with SEEK_DATA/SEEK_HOLE (pages never touched
 * are holes and are not stored), and splices them into the pages image: nothing passes through
 * JS memory, and no task runs anything for it.
 */
import type { PagemapEntry, VmaEntry } from '../images/generated/types.js';
import { imageFileName } from '../images/image_files.js';
import type { ImageDirWriter } from '../images/image_dir.js';
import type { Pagemap } from '../images/typed.js';
import { O, SEEK, close, fstat, isSysError, lseek, open, pageSize, pipe2, splice, write } from '../sys/index.js';
import { PE } from './pages.js';
import { VMA } from './vmas.js';

export interface ShmemDumpState {
  /** Segments already dumped, by shmid. */
  done: Set<bigint>;
  nextPagesId: () => number;
  pagesWritten: number;
}

/** Dumps the shared anonymous segments task `pid` maps that no earlier task's dump covered. */
export function dumpShmem(pid: number, vmas: readonly VmaEntry[], writer: ImageDirWriter, state: ShmemDumpState): Array<{ shmid: bigint; pagemap: Pagemap }> {
  const out: Array<{ shmid: bigint; pagemap: Pagemap }> = [];
  for (const vma of vmas) {
    if (!(vma.status & VMA.ANON_SHARED) || (vma.status & VMA.AREA_SYSVIPC) || state.done.has(vma.shmid)) continue;
    const segment = open(`/proc/${pid}/map_files/${vma.start.toString(16)}-${vma.end.toString(16)}`, {
      flags: O.RDONLY | O.CLOEXEC,
      what: `open shared memory ${vma.shmid} of task ${pid}`,
    });
    try {
      out.push({ shmid: vma.shmid, pagemap: dumpShmemSegment(segment, vma.shmid, writer, state) });
    } finally {
      close(segment);
    }
  }
  return out;
}

/**
 * Dumps one segment, open at `segment` (a map_files entry, or a memfd), as `shmid`: its populated
 * pages go to a pages image of their own; returns the pagemap to write as pagemap-shmem-SHMID.img.
 * Marks the segment done.
 */
export function dumpShmemSegment(segment: number, shmid: bigint, writer: ImageDirWriter, state: ShmemDumpState): Pagemap {
  state.done.add(shmid);
  const pagesId = state.nextPagesId();
  const fd = writer.openRaw(imageFileName('pages', pagesId));
  try {
    const entries = copyPopulated(segment, fd);
    state.pagesWritten += entries.reduce((n, e) => n + Number(e.nr_pages ?? 0n), 0);
    return { head: { pages_id: pagesId }, entries };
  } finally {
    close(fd);
  }
}

/** Splices every populated page run of `segment` to `outFd`; returns the runs (vaddr = offset). */
function copyPopulated(segment: number, outFd: number): PagemapEntry[] {
  const page = BigInt(pageSize());
  const size = fstat(segment).size;
  const entries: PagemapEntry[] = [];
  const [readEnd, writeEnd] = pipe2({ flags: O.CLOEXEC });
  try {
    let offset = 0n;
    while (offset < size) {
      let data: bigint;
      try {
        data = lseek(segment, offset, { whence: SEEK.DATA });
      } catch (err) {
        if (isSysError(err, 'ENXIO')) break; // no data after offset
        throw err;
      }
      const hole = lseek(segment, data, { whence: SEEK.HOLE });
      const start = (data / page) * page;
      const end = ((hole + page - 1n) / page) * page;
      const pages = (end - start) / page;
      entries.push({ vaddr: start, compat_nr_pages: Number(pages), flags: PE.PRESENT, nr_pages: pages });
      for (let at = start; at < end; ) {
        const moved = splice(segment, writeEnd, { offIn: at, len: Number(end - at > 1n << 20n ? 1n << 20n : end - at) });
        if (moved === 0) {
          // The segment ends inside its last page: the rest of that page reads as zeros.
          write(outFd, new Uint8Array(Number(end - at)));
          break;
        }
        for (let left = moved; left > 0; ) left -= splice(readEnd, outFd, { len: left });
        at += BigInt(moved);
      }
      offset = end;
    }
  } finally {
    close(readEnd);
    close(writeEnd);
  }
  return entries;
}

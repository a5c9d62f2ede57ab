/**
 * Which pages of a task to dump, by CRIU's rule, read from /proc/PID/pagemap: in private
 * mappings, every page that is present or swapped and is the task's own (not a page still shared
 * with the file, not the zero page); nothing of vvar or vsyscall. Runs of such pages become
 * pagemap entries (PE_PRESENT, plus PE_LAZY for anonymous memory that a lazy restore may fetch
 * later) and the memory ranges the parasite copies into pages-N.img, in the same order.
 */
import type { PagemapEntry, VmaEntry } from '../images/generated/types.js';
import { PAGEMAP, PagemapReader } from '../proc/index.js';
import { O, close, mmap, munmap, open, pageSize, pread, viewMemory } from '../sys/index.js';
import { VMA, vmaHasDumpablePages } from './vmas.js';

export const PE = { PARENT: 1 << 0, LAZY: 1 << 1, PRESENT: 1 << 2 } as const;

export interface PagePlan {
  /** The pagemap entries after the head. */
  entries: PagemapEntry[];
  /** The same runs as ranges to copy, in order. */
  ranges: Array<{ addr: bigint; len: bigint }>;
  /** Pages looked at, and pages to write. */
  scanned: number;
  pages: number;
}

let zeroPfn: bigint | undefined;

/** The page frame of the shared zero page (what a read-only touch of fresh memory maps). */
export function zeroPagePfn(): bigint {
  if (zeroPfn === undefined) {
    const size = pageSize();
    const addr = mmap(size, { what: 'probe the zero page' });
    try {
      void viewMemory(addr, 1)[0]; // a read maps the zero page
      const fd = open('/proc/self/pagemap', { flags: O.RDONLY | O.CLOEXEC });
      try {
        const word = new BigUint64Array(1);
        pread(fd, new Uint8Array(word.buffer), { offset: (addr / BigInt(size)) * 8n });
        zeroPfn = word[0]! & PAGEMAP.PFN_MASK;
      } finally {
        close(fd);
      }
    } finally {
      munmap(addr, size);
    }
  }
  return zeroPfn;
}

/** Whether pages of this area may be restored lazily (anonymous private memory). */
function lazyArea(vma: VmaEntry): boolean {
  return (vma.status & VMA.ANON_PRIVATE) !== 0 && (vma.status & (VMA.AREA_VDSO | VMA.AREA_VVAR)) === 0;
}

/** Plans the pages of one task. */
export function planPages(pid: number, vmas: readonly VmaEntry[]): PagePlan {
  const page = BigInt(pageSize());
  const zero = zeroPagePfn();
  const plan: PagePlan = { entries: [], ranges: [], scanned: 0, pages: 0 };
  const reader = new PagemapReader(pid);
  try {
    for (const vma of vmas) {
      if (!vmaHasDumpablePages(vma) || (vma.status & VMA.ANON_SHARED) !== 0) continue;
      const words = reader.read(vma.start, vma.end);
      plan.scanned += words.length;
      const flags = PE.PRESENT | (lazyArea(vma) ? PE.LAZY : 0);
      let runStart = -1;
      for (let i = 0; i <= words.length; i++) {
        const w = i < words.length ? words[i]! : 0n;
        const own =
          i < words.length &&
          (w & (PAGEMAP.PRESENT | PAGEMAP.SWAPPED)) !== 0n &&
          (w & PAGEMAP.FILE_OR_SHARED_ANON) === 0n &&
          !((w & PAGEMAP.PRESENT) !== 0n && (w & PAGEMAP.PFN_MASK) === zero && zero !== 0n);
        if (own && runStart < 0) runStart = i;
        if (!own && runStart >= 0) {
          const addr = vma.start + BigInt(runStart) * page;
          const count = i - runStart;
          // compat_nr_pages (field 2) is what readers older than CRIU 4 use; CRIU 4.2 leaves it 0,
          // we fill it too so that Debian's crit 3.17 shows the right counts.
          plan.entries.push({ vaddr: addr, compat_nr_pages: count, flags, nr_pages: BigInt(count) });
          plan.ranges.push({ addr, len: BigInt(count) * page });
          plan.pages += count;
          runStart = -1;
        }
      }
    }
  } finally {
    reader.close();
  }
  return plan;
}

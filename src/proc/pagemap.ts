/**
 * /proc/PID/pagemap: one 64-bit word per virtual page saying whether it is present, swapped,
 * file-backed or exclusively mapped (Documentation/admin-guide/mm/pagemap.rst).
 */
import { O, close, open, pageSize, pread } from '../sys/index.js';
import { ProcError } from './read.js';

export const PAGEMAP = {
  PRESENT: 1n << 63n,
  SWAPPED: 1n << 62n,
  FILE_OR_SHARED_ANON: 1n << 61n,
  EXCLUSIVE: 1n << 56n,
  SOFT_DIRTY: 1n << 55n,
  PFN_MASK: (1n << 55n) - 1n,
} as const;

/** An open /proc/PID/pagemap, read in ranges. Close it when done. */
export class PagemapReader {
  readonly pid: number;
  #fd: number;
  #page = BigInt(pageSize());

  constructor(pid: number) {
    this.pid = pid;
    try {
      this.#fd = open(`/proc/${pid}/pagemap`, { flags: O.RDONLY | O.CLOEXEC, what: `open the pagemap of task ${pid}` });
    } catch (err) {
      throw new ProcError('PROC_GONE', `/proc/${pid}/pagemap`, 'cannot open', { pid, cause: err });
    }
  }

  /** The pagemap words of the pages in [start, end) (page-aligned addresses). */
  read(start: bigint, end: bigint): BigUint64Array {
    const pages = Number((end - start) / this.#page);
    const words = new BigUint64Array(pages);
    const bytes = new Uint8Array(words.buffer);
    let done = 0;
    while (done < bytes.length) {
      const n = pread(this.#fd, bytes.subarray(done), {
        offset: (start / this.#page) * 8n + BigInt(done),
        what: `read the pagemap of task ${this.pid}`,
      });
      if (n === 0) break;
      done += n;
    }
    return words;
  }

  close(): void {
    if (this.#fd >= 0) close(this.#fd);
    this.#fd = -1;
  }
}

/** Runs of consecutive pages of [start, end) that `keep` selects, as [start, end) pairs. */
export function pageRuns(start: bigint, words: BigUint64Array, keep: (word: bigint) => boolean): Array<[bigint, bigint]> {
  const page = BigInt(pageSize());
  const runs: Array<[bigint, bigint]> = [];
  let runStart = -1;
  for (let i = 0; i <= words.length; i++) {
    const selected = i < words.length && keep(words[i]!);
    if (selected && runStart < 0) runStart = i;
    if (!selected && runStart >= 0) {
      runs.push([start + BigInt(runStart) * page, start + BigInt(i) * page]);
      runStart = -1;
    }
  }
  return runs;
}

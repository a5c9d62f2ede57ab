/**
 * Seccomp filters (seccomp.img): every filter of every thread, read with
 * PTRACE_SECCOMP_GET_FILTER (index 0 is the oldest: the kernel counts back from the newest by
 * `count - 1 - index`), kept once however many threads share it. A filter
 * is known by its chain (itself and all older ones), so inherited filters are shared and a thread
 * that added its own gets new entries on top. Ids are 0-based in the order filters are met, each
 * entry's `prev` is the id of the filter below it, and a thread's core names its newest filter
 * (thread_core.seccomp_mode/seccomp_filter), as CRIU writes them.
 */
import type { SeccompEntry, SeccompFilter } from '../images/generated/types.js';
import { isSysError, ptraceSeccompGetFilter } from '../sys/index.js';

export const SECCOMP_MODE = { DISABLED: 0, STRICT: 1, FILTER: 2 } as const;

export class SeccompFilters {
  #filters: SeccompFilter[] = [];
  #byChain = new Map<string, number>();

  /** Reads the filters of a stopped thread in filter mode; returns the id of its newest filter. */
  collect(tid: number): number {
    const oldestFirst: Buffer[] = [];
    for (let i = 0; ; i++) {
      try {
        oldestFirst.push(ptraceSeccompGetFilter(tid, i, { what: `read seccomp filter ${i} of thread ${tid}` }));
      } catch (err) {
        if (isSysError(err, 'ENOENT')) break; // below the oldest filter
        throw err;
      }
    }
    let chain = '';
    let id = -1;
    for (const filter of oldestFirst) {
      chain += `/${filter.toString('hex')}`;
      let known = this.#byChain.get(chain);
      if (known === undefined) {
        known = this.#filters.length;
        const entry: SeccompFilter = { filter: new Uint8Array(filter) };
        if (id >= 0) entry.prev = id;
        this.#filters.push(entry);
        this.#byChain.set(chain, known);
      }
      id = known;
    }
    return id;
  }

  /** The image: one entry with every filter (an empty entry when no task has any). */
  entry(): SeccompEntry {
    return this.#filters.length === 0 ? {} : { seccomp_filters: this.#filters };
  }
}

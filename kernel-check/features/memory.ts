/** Probes of memory tracking and the special mappings. */
import { readFileSync, writeFileSync } from 'node:fs';
import { O, addressOf, close, mmap, munmap, open, pageSize, pread, syscall, viewMemory } from '../../src/sys/index.js';
import { missing, supported, type FeatureProbe } from '../probe.js';
import { guarded } from './ptrace.js';

// linux/userfaultfd.h and linux/fs.h (ioctl numbers: _IOWR(type, nr, size)).
const UFFD_API = 0xaan;
const UFFDIO_API = 0xc018aa3fn;
const UFFDIO_REGISTER = 0xc020aa00n;
const UFFDIO_WRITEPROTECT = 0xc018aa06n;
const UFFDIO_REGISTER_MODE_WP = 2n;
const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1n << 0n;
const PAGEMAP_SCAN = 0xc0606610n; // _IOWR('f', 16, struct pm_scan_arg) with a 96-byte argument
const PAGE_IS_PRESENT = 1n << 3n;
const PM_SOFT_DIRTY = 1n << 55n;
const PM_PRESENT = 1n << 63n;

/** Runs `fn` on a fresh private anonymous mapping of `pages` pages, then unmaps it. */
function withScratch<T>(pages: number, fn: (addr: bigint, length: number) => T): T {
  const length = pages * pageSize();
  const addr = mmap(length, { what: 'map probe scratch memory' });
  try {
    return fn(addr, length);
  } finally {
    munmap(addr, length);
  }
}

/** The /proc/self/pagemap word of the page at `addr`. */
function pagemapEntry(addr: bigint): bigint {
  const fd = open('/proc/self/pagemap', { flags: O.RDONLY });
  try {
    const word = new BigUint64Array(1);
    pread(fd, new Uint8Array(word.buffer), { offset: (addr / BigInt(pageSize())) * 8n });
    return word[0]!;
  } finally {
    close(fd);
  }
}

/** Opens a userfaultfd and negotiates the API; returns the fd and the features offered. */
function openUserfaultfd(): { fd: number; features: bigint } {
  const fd = Number(syscall('userfaultfd', O.CLOEXEC | O.NONBLOCK));
  const api = new BigUint64Array([UFFD_API, 0n, 0n]); // struct uffdio_api {api, features, ioctls}
  try {
    syscall('ioctl', fd, UFFDIO_API, api);
  } catch (err) {
    close(fd);
    throw err;
  }
  return { fd, features: api[1]! };
}

export const MEMORY_PROBES: FeatureProbe[] = [
  {
    name: 'pagemap',
    category: 'required',
    description: '/proc/PID/pagemap with present bits, to find the pages worth dumping',
    probe: guarded(() =>
      withScratch(1, (addr) => {
        viewMemory(addr, 1)[0] = 1;
        return pagemapEntry(addr) & PM_PRESENT ? supported() : missing('a touched page is not reported present');
      }),
    ),
  },
  {
    name: 'vdso',
    category: 'required',
    description: 'the vDSO and its data pages ([vvar], [vvar_vclock]), which restore moves into place',
    probe: guarded(() => {
      const maps = readFileSync('/proc/self/maps', 'utf8');
      const sizes: Record<string, number> = {};
      for (const line of maps.split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) .*\s(\[(vdso|vvar|vvar_vclock)\])$/.exec(line);
        if (m) sizes[m[4]!] = (parseInt(m[2]!, 16) - parseInt(m[1]!, 16)) / pageSize();
      }
      if (sizes['vdso'] === undefined) return missing('no [vdso] mapping');
      const detail = Object.entries(sizes).map(([name, pages]) => `[${name}] ${pages} pages`).join(', ');
      return supported(detail, sizes);
    }),
  },
  {
    name: 'uffd',
    category: 'extra',
    description: 'userfaultfd, for lazy restore and write tracking',
    probe: guarded(() => {
      const { fd, features } = openUserfaultfd();
      close(fd);
      return supported(`features 0x${features.toString(16)}`);
    }),
  },
  {
    name: 'uffd_wp',
    category: 'extra',
    description: 'userfaultfd write-protect, to track pages written between incremental dumps',
    probe: guarded(() => {
      const { fd, features } = openUserfaultfd();
      try {
        if (!(features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) return missing('UFFD_FEATURE_PAGEFAULT_FLAG_WP is not offered');
        return withScratch(1, (addr, length) => {
          // Populate the page first, then register it for write-protection and protect it. Nothing
          // writes to it afterwards, so no fault ever waits on this fd.
          viewMemory(addr, 1)[0] = 1;
          const register = new BigUint64Array([addr, BigInt(length), UFFDIO_REGISTER_MODE_WP, 0n]);
          syscall('ioctl', fd, UFFDIO_REGISTER, register);
          const protect = new BigUint64Array([addr, BigInt(length), 1n]); // UFFDIO_WRITEPROTECT_MODE_WP
          syscall('ioctl', fd, UFFDIO_WRITEPROTECT, protect);
          return supported();
        });
      } finally {
        close(fd);
      }
    }),
  },
  {
    name: 'pagemap_scan',
    category: 'extra',
    description: 'the PAGEMAP_SCAN ioctl, to find present and written pages in one call',
    probe: guarded(() =>
      withScratch(4, (addr, length) => {
        const page = BigInt(pageSize());
        viewMemory(addr, 1)[0] = 1;
        viewMemory(addr + 2n * page, 1)[0] = 1;
        const regions = new BigUint64Array(3 * 4); // struct page_region {start, end, categories}
        const arg = new BigUint64Array([
          96n, 0n, addr, addr + BigInt(length), 0n, // size, flags, start, end, walk_end
          0n, 4n, 0n, // vec (set below), vec_len, max_pages
          0n, PAGE_IS_PRESENT, 0n, PAGE_IS_PRESENT, // category_inverted, _mask, _anyof_mask, return_mask
        ]);
        const fd = open('/proc/self/pagemap', { flags: O.RDONLY });
        try {
          arg[5] = addressOf(regions);
          const found = syscall('ioctl', fd, PAGEMAP_SCAN, arg);
          if (found !== 2n || regions[0] !== addr || regions[3] !== addr + 2n * page) {
            return missing(`PAGEMAP_SCAN reported ${found} regions where 2 were present`);
          }
          return supported();
        } finally {
          close(fd);
        }
      }),
    ),
  },
  {
    name: 'mem_dirty_track',
    category: 'extra',
    description: 'soft-dirty bits (clear_refs 4 + pagemap bit 55), the classic way to track writes',
    probe: guarded(() =>
      withScratch(1, (addr) => {
        const view = viewMemory(addr, 1);
        view[0] = 1;
        writeFileSync('/proc/self/clear_refs', '4');
        view[0] = 2;
        return pagemapEntry(addr) & PM_SOFT_DIRTY ? supported() : missing('a written page does not show soft-dirty (CONFIG_MEM_SOFT_DIRTY is off)');
      }),
    ),
  },
];

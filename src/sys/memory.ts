/**
 * Memory: mmap/munmap/mprotect/madvise, memfd_create, process_vm_readv/writev, and page-aligned
 * buffers (anonymous mappings seen from JavaScript as a Uint8Array) for bounce buffers.
 */

import { MAP, MFD, PROT, SC_PAGESIZE } from './constants.js';
import { type SysContext } from './error.js';
import { fail, keepAlive, lastErrno, sysconf, sysInt, sysPtr, viewAt } from './libc.js';
import { cPath } from './io.js';
import { buildIovecs, iovLength, type IoVec, type MemRange } from './structs.js';
import { NR } from './syscalls.js';

let cachedPageSize = 0;

/** `sysconf(_SC_PAGESIZE)` — the page size in bytes (read once). */
export function pageSize(): number {
  if (cachedPageSize === 0) cachedPageSize = sysconf(SC_PAGESIZE, { what: 'read the page size' });
  return cachedPageSize;
}

/** Options of mmap. */
export interface MmapOptions extends SysContext {
  /** A hint, or the exact address with `MAP.FIXED`/`MAP.FIXED_NOREPLACE`; 0 lets the kernel choose. */
  addr?: bigint;
  /** `PROT_*`; read and write when absent. */
  prot?: number;
  /** `MAP_*`; private and anonymous when absent. */
  flags?: number;
  /** The file to map; -1 (anonymous) when absent. */
  fd?: number;
  /** Offset in the file, a multiple of the page size. */
  offset?: bigint | number;
}

/** `mmap(addr, length, prot, flags, fd, offset)` — maps memory into this process; returns its address. */
export function mmap(length: number, opts?: MmapOptions): bigint {
  const addr = opts?.addr ?? 0n;
  const prot = opts?.prot ?? PROT.READ | PROT.WRITE;
  const flags = opts?.flags ?? MAP.PRIVATE | MAP.ANONYMOUS;
  const fd = opts?.fd ?? -1;
  const offset = opts?.offset ?? 0;
  const r = sysInt(NR.mmap, addr, length, prot, flags, fd, offset);
  if (r === -1) throw fail(lastErrno(), 'mmap', opts, { call: `mmap(0x${addr.toString(16)}, ${length}, ${prot}, 0x${flags.toString(16)}, ${fd}, ${offset})` });
  return BigInt(r);
}

/** `munmap(addr, length)` — unmaps a range of this process's memory. */
export function munmap(addr: bigint, length: number, opts?: SysContext): void {
  const r = sysInt(NR.munmap, addr, length);
  if (r === -1) throw fail(lastErrno(), 'munmap', opts, { call: `munmap(0x${addr.toString(16)}, ${length})` });
}

/** Options of mprotect. */
export interface MprotectOptions extends SysContext {
  prot: number;
}

/** `mprotect(addr, length, prot)` — changes the protection of a range of this process's memory. */
export function mprotect(addr: bigint, length: number, opts: MprotectOptions): void {
  const r = sysInt(NR.mprotect, addr, length, opts.prot);
  if (r === -1) throw fail(lastErrno(), 'mprotect', opts, { call: `mprotect(0x${addr.toString(16)}, ${length}, ${opts.prot})` });
}

/** Options of madvise. */
export interface MadviseOptions extends SysContext {
  /** `MADV_*` */
  advice: number;
}

/** `madvise(addr, length, advice)` — advises the kernel about a range of this process's memory. */
export function madvise(addr: bigint, length: number, opts: MadviseOptions): void {
  const r = sysInt(NR.madvise, addr, length, opts.advice);
  if (r === -1) throw fail(lastErrno(), 'madvise', opts, { call: `madvise(0x${addr.toString(16)}, ${length}, ${opts.advice})` });
}

/** Options of memfd_create. */
export interface MemfdOptions extends SysContext {
  /** `MFD_*`; `MFD.CLOEXEC` when absent. */
  flags?: number;
}

/** `memfd_create(name, flags)` — an anonymous file living in memory; returns its fd. */
export function memfdCreate(name: string, opts?: MemfdOptions): number {
  const flags = opts?.flags ?? MFD.CLOEXEC;
  const r = sysPtr(NR.memfd_create, cPath(name), flags);
  if (r === -1) throw fail(lastErrno(), 'memfd_create', opts, { call: `memfd_create(${JSON.stringify(name)}, ${flags})` });
  return Number(r);
}

/** The two sides of a cross-process copy. */
export interface VmTransfer {
  /** This process's side: views, or ranges by address (e.g. a {@link PageBuffer}'s). */
  local: readonly IoVec[];
  /** The other process's side, by address. */
  remote: readonly MemRange[];
}

/** Options of process_vm_readv/writev. */
export interface VmOptions extends SysContext {
  /** Reserved by the kernel; must be 0. */
  flags?: number;
}

/**
 * `process_vm_readv(pid, local_iov, liovcnt, remote_iov, riovcnt, flags)` — copies another process's
 * memory into ours; returns the bytes copied, which is less than asked when a remote range ends in
 * unmapped memory. At most `UIO_MAXIOV` (1024) ranges on each side.
 */
export function processVmReadv(pid: number, xfer: VmTransfer, opts?: VmOptions): number {
  return vmCall(NR.process_vm_readv, 'process_vm_readv', pid, xfer, opts);
}

/**
 * `process_vm_writev(pid, local_iov, liovcnt, remote_iov, riovcnt, flags)` — copies our memory into
 * another process; returns the bytes copied. It cannot write read-only mappings (use POKEDATA or
 * `/proc/PID/mem` for code).
 */
export function processVmWritev(pid: number, xfer: VmTransfer, opts?: VmOptions): number {
  return vmCall(NR.process_vm_writev, 'process_vm_writev', pid, xfer, opts);
}

function vmCall(nr: number, syscall: string, pid: number, xfer: VmTransfer, opts: VmOptions | undefined): number {
  const local = buildIovecs(xfer.local);
  const remote = buildIovecs(xfer.remote);
  const flags = opts?.flags ?? 0;
  const r = sysPtr(nr, pid, local, xfer.local.length, remote, xfer.remote.length, flags);
  if (r === -1) {
    const first = xfer.remote[0];
    const want = xfer.remote.reduce((n, v) => n + iovLength(v), 0);
    const at = first ? ` at 0x${first.addr.toString(16)}` : '';
    throw fail(lastErrno(), syscall, opts, { pid, call: `${syscall}(${pid}, ${want} bytes from ${xfer.remote.length} ranges${at})` });
  }
  keepAlive(xfer);
  return Number(r);
}

/**
 * Page-aligned memory of this process: an anonymous private mapping, seen as a Uint8Array without
 * copying. Free it with {@link PageBuffer.unmap}; the view must not be used after that (the memory
 * is gone, and touching it would crash the process), so do not keep `bytes` beyond the buffer's life.
 */
export class PageBuffer {
  /** The address of the first byte. */
  readonly address: bigint;
  /** The length in bytes, a multiple of the page size. */
  readonly length: number;
  #bytes: Uint8Array | null;

  constructor(address: bigint, length: number) {
    this.address = address;
    this.length = length;
    this.#bytes = new Uint8Array(viewAt(address, length));
  }

  /** The memory as bytes; throws once unmapped. */
  get bytes(): Uint8Array {
    if (this.#bytes === null) throw new Error(`Page buffer at 0x${this.address.toString(16)} was unmapped`);
    return this.#bytes;
  }

  /** True until {@link unmap} is called. */
  get mapped(): boolean {
    return this.#bytes !== null;
  }

  /** The whole buffer, or part of it, as a range for iovecs (`process_vm_readv`, `vmsplice`). */
  range(offset = 0, len = this.length - offset): MemRange {
    if (offset < 0 || len < 0 || offset + len > this.length) throw new RangeError(`Range ${offset}+${len} is outside the ${this.length}-byte page buffer`);
    if (this.#bytes === null) throw new Error(`Page buffer at 0x${this.address.toString(16)} was unmapped`);
    return { addr: this.address + BigInt(offset), len };
  }

  /** `munmap(addr, length)` — frees the memory; calling it again does nothing. */
  unmap(opts?: SysContext): void {
    if (this.#bytes === null) return;
    this.#bytes = null;
    munmap(this.address, this.length, opts);
  }
}

/** Options of allocPages. */
export interface AllocPagesOptions extends SysContext {
  /** Fault the pages in now (`MAP.POPULATE`) instead of at first touch. */
  populate?: boolean;
}

/** `mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)` — page-aligned memory, rounded up to whole pages. */
export function allocPages(length: number, opts?: AllocPagesOptions): PageBuffer {
  const page = pageSize();
  const rounded = Math.max(page, Math.ceil(length / page) * page);
  const flags = MAP.PRIVATE | MAP.ANONYMOUS | (opts?.populate ? MAP.POPULATE : 0);
  const addr = mmap(rounded, { ...opts, flags });
  return new PageBuffer(addr, rounded);
}

/**
 * A Uint8Array over `length` bytes of this process's memory at `address` (no copy), e.g. a mapping
 * made with {@link mmap}. It is valid only while that memory stays mapped.
 */
export function viewMemory(address: bigint, length: number): Uint8Array {
  return new Uint8Array(viewAt(address, length));
}

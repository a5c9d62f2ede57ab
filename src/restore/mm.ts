/**
 * A task's memory, in two batches run by the restorer from its bootstrap area:
 *
 * 1. `rseq(…, RSEQ_FLAG_UNREGISTER)` of the registration the task inherited from the seed; the
 *    vDSO parked (`mremap`); everything but the bootstrap unmapped (`munmap`); every area of
 *    mm-PID.img created at its address (`mmap` with `MAP_FIXED`: files opened in the task with
 *    `openat`, anonymous memory private or shared); the pages read from pages-N.img straight into
 *    place (`pread64`, one call per run: no byte passes through the driver); the final protections
 *    (`mprotect`) and advice (`madvise`); the vDSO moved to the image's address (`mremap`); the
 *    executable opened.
 * 2. `prctl(PR_SET_MM, PR_SET_MM_MAP, …)`: code, data, brk, stack, args, env, auxv and exe (no
 *    CAP_SYS_RESOURCE needed), once the exe's fd is known. (`PR_SET_DUMPABLE` comes after the
 *    credentials, which reset it: src/restore/state.ts.)
 */
import type { Tracee } from '../ptrace/index.js';
import { MAP, O, PR, PR_SET_MM, PROT, type RseqConfiguration } from '../sys/index.js';
import type { ResultRef } from '../../parasite/restorer_protocol.js';
import type { VmaEntry } from '../images/generated/types.js';
import { Batch, runBatch } from './batch.js';
import type { Bootstrap } from './bootstrap.js';
import { VMA } from './constants.js';
import { RestoreError } from './errors.js';
import type { PageRun, RestorePlan, TaskPlan } from './plan.js';
import type { VdsoPlan } from './vdso.js';

/** What the memory of one task is restored from. */
export interface MemoryContext {
  plan: RestorePlan;
  task: TaskPlan;
  leader: Tracee;
  boot: Bootstrap;
  vdso: VdsoPlan;
  taskSize: bigint;
  /** Shared anonymous segments already created, by shmid: the task that has them and where. */
  shmemOwners: Map<bigint, { pid: number; start: bigint; end: bigint }>;
  /** The task's executable now (dev:ino), when the image's is the same file (then it is kept). */
  sameExe: boolean;
  /** The rseq registration the task inherited (to drop before its memory goes). */
  rseq: RseqConfiguration | undefined;
}

/** What the first batch leaves for the second. */
interface MemoryBatch {
  batch: Batch;
  /** Results that must have exact values (mmap returns the address asked for; pread reads it all). */
  expect: Array<{ ref: ResultRef; value: bigint; what: string }>;
  exe: ResultRef | null;
}

const MREMAP_MAYMOVE = 1;
const MREMAP_FIXED = 2;
const RSEQ_FLAG_UNREGISTER = 1;
/** Largest single read (the kernel's MAX_RW_COUNT, rounded down to a page). */
const MAX_READ = 0x7ffff000n;
/** madvise bits that may fail on a kernel without the feature (KSM, THP): warned about, not fatal. */
const SOFT_ADVICE = new Set([12, 14, 15]);
const PRCTL_MM_MAP_SIZE = 104;

/** Restores the memory and mm fields of one task (its leader stopped, its bootstrap mapped). */
export function restoreMemory(ctx: MemoryContext, log: (m: string) => void): { pages: bigint } {
  const mb = memoryBatch(ctx);
  const results = runBatch(ctx.leader, ctx.boot, mb.batch, { timeoutMs: 600_000 });
  for (const e of mb.expect) {
    const got = results[e.ref.ref]!;
    if (got !== e.value) throw new RestoreError('RESTORE_FAILED', `Task ${ctx.task.pid}: ${e.what} gave ${got}, not ${e.value}`, { pid: ctx.task.pid, step: 'restore memory' });
  }
  mb.batch.records.forEach((r, i) => {
    if (!r.stop && results[i]! < 0n && results[i]! >= -4095n) log(`task ${ctx.task.pid}: ${r.what ?? 'a call'} failed (${-results[i]!}), going on`);
  });
  const exeFd = mb.exe === null ? -1 : Number(results[mb.exe.ref]!);
  runBatch(ctx.leader, ctx.boot, finishBatch(ctx, exeFd));
  const pages = ctx.task.pages!.runs.reduce((n, r) => n + r.len, 0n);
  return { pages };
}

/** Does any run of `runs` touch [start, end)? */
function touches(runs: readonly PageRun[], start: bigint, end: bigint): boolean {
  return runs.some((r) => r.addr < end && r.addr + r.len > start);
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** Builds the first batch. */
export function memoryBatch(ctx: MemoryContext): MemoryBatch {
  const { task, boot, plan } = ctx;
  const nr = ctx.leader.arch.nr;
  const b = new Batch(boot, nr);
  const expect: MemoryBatch['expect'] = [];
  const mm = task.mm!;
  const vmas = mm.vmas ?? [];
  const runs = task.pages!.runs;

  if (ctx.rseq !== undefined && ctx.rseq.rseqAbiPointer !== 0n) {
    b.add('rseq', [ctx.rseq.rseqAbiPointer, ctx.rseq.rseqAbiSize, RSEQ_FLAG_UNREGISTER, ctx.rseq.signature], { what: 'drop the rseq area inherited from the seed' });
  }
  if (mm.thp_disabled) b.add('prctl', [PR.SET_THP_DISABLE, 1, 0, 0, 0], { what: 'disable transparent huge pages' });
  for (const m of ctx.vdso.moves) {
    b.add('mremap', [m.from, m.len, m.len, MREMAP_MAYMOVE | MREMAP_FIXED, boot.park + m.parkOffset], { what: `park ${m.name}` });
  }
  b.add('munmap', [0, boot.start], { what: 'unmap everything below the bootstrap area' });
  b.add('munmap', [boot.end, ctx.taskSize - boot.end], { what: 'unmap everything above the bootstrap area' });

  // Files of file-backed areas, opened once each in the task.
  const fileFds = new Map<number, ResultRef>();
  const openFile = (id: number, write: boolean): ResultRef => {
    const key = write ? -id : id;
    const known = fileFds.get(key);
    if (known !== undefined) return known;
    const reg = plan.files.get(id)!.reg!;
    const ref = b.add('openat', [-100, b.data.cstring(reg.name), (write ? O.RDWR : O.RDONLY) | O.CLOEXEC, 0], { what: `open ${reg.name}` });
    fileFds.set(key, ref);
    return ref;
  };
  const toProtect: Array<{ vma: VmaEntry; prot: number }> = [];
  const shmemFill: Array<{ vma: VmaEntry; runs: PageRun[] }> = [];
  for (const vma of vmas) {
    if (vma.status & (VMA.AREA_VSYSCALL | VMA.AREA_VDSO | VMA.AREA_VVAR)) continue;
    const len = vma.end - vma.start;
    const shared = (vma.status & (VMA.FILE_SHARED | VMA.ANON_SHARED)) !== 0;
    let shmemRuns: PageRun[] = [];
    let fd: bigint | number | ResultRef = -1;
    let flags = vma.flags | MAP.FIXED;
    let pgoff = vma.pgoff;
    if (vma.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) {
      const write = (vma.status & VMA.FILE_SHARED) !== 0 && ((vma.fdflags ?? 0) & 3) === O.RDWR;
      fd = openFile(Number(vma.shmid), write);
    } else if (vma.status & VMA.ANON_SHARED) {
      const owner = ctx.shmemOwners.get(vma.shmid);
      if (owner !== undefined) {
        const path = `/proc/${owner.pid}/map_files/${owner.start.toString(16)}-${owner.end.toString(16)}`;
        fd = b.add('openat', [-100, b.data.cstring(path), O.RDWR | O.CLOEXEC, 0], { what: `open shared memory ${vma.shmid} of task ${owner.pid}` });
        flags = (flags & ~MAP.ANONYMOUS) | MAP.SHARED;
      } else {
        ctx.shmemOwners.set(vma.shmid, { pid: task.pid, start: vma.start, end: vma.end });
        shmemRuns = plan.shmem.get(vma.shmid)?.runs ?? [];
        pgoff = 0n;
      }
    }
    const fill = shmemRuns.length > 0 || (!shared && touches(runs, vma.start, vma.end));
    const prot = fill ? vma.prot | PROT.WRITE : vma.prot;
    if (prot !== vma.prot) toProtect.push({ vma, prot: vma.prot });
    const what = `map ${hex(vma.start)}-${hex(vma.end)}`;
    const ref = b.add('mmap', [vma.start, len, prot, flags, fd, pgoff], { what });
    expect.push({ ref, value: vma.start, what });
    if (shmemRuns.length > 0) shmemFill.push({ vma, runs: shmemRuns });
  }

  const pagesFd = b.add('openat', [-100, b.data.cstring(task.pages!.file), O.RDONLY | O.CLOEXEC, 0], { what: `open ${task.pages!.file}` });
  for (const run of runs) {
    for (const piece of clip(run, ctx.vdso.skip)) readRun(b, expect, pagesFd, piece);
  }
  b.add('close', [pagesFd], { what: 'close the pages image' });
  for (const { vma, runs: segRuns } of shmemFill) {
    const pages = plan.shmem.get(vma.shmid)!;
    const fd = b.add('openat', [-100, b.data.cstring(pages.file), O.RDONLY | O.CLOEXEC, 0], { what: `open ${pages.file}` });
    // Runs are offsets in the segment; this area shows [pgoff, pgoff + length) of it.
    const segStart = vma.pgoff;
    const segEnd = vma.pgoff + (vma.end - vma.start);
    for (const r of segRuns) {
      const from = r.addr > segStart ? r.addr : segStart;
      const to = r.addr + r.len < segEnd ? r.addr + r.len : segEnd;
      if (from >= to) continue;
      readRun(b, expect, fd, { addr: vma.start + (from - segStart), len: to - from, offset: r.offset + (from - r.addr) });
    }
    b.add('close', [fd], { what: `close ${pages.file}` });
  }
  for (const ref of fileFds.values()) b.add('close', [ref], { what: 'close a mapped file' });
  for (const { vma, prot } of toProtect) b.add('mprotect', [vma.start, vma.end - vma.start, prot], { what: `protect ${hex(vma.start)}-${hex(vma.end)}` });
  for (const vma of vmas) {
    if (vma.madv === undefined || vma.madv === 0n || (vma.status & (VMA.AREA_VDSO | VMA.AREA_VVAR | VMA.AREA_VSYSCALL))) continue;
    for (let bit = 0; bit < 64; bit++) {
      if (!(vma.madv & (1n << BigInt(bit)))) continue;
      b.add('madvise', [vma.start, vma.end - vma.start, bit], { stop: !SOFT_ADVICE.has(bit), what: `advise ${bit} on ${hex(vma.start)}-${hex(vma.end)}` });
    }
  }
  for (const m of ctx.vdso.moves) {
    const ref = b.add('mremap', [boot.park + m.parkOffset, m.len, m.len, MREMAP_MAYMOVE | MREMAP_FIXED, m.to], { what: `move ${m.name} to ${hex(m.to)}` });
    expect.push({ ref, value: m.to, what: `move ${m.name}` });
  }
  let exe: ResultRef | null = null;
  if (!ctx.sameExe) {
    const reg = plan.files.get(mm.exe_file_id)!.reg!;
    exe = b.add('openat', [-100, b.data.cstring(reg.name), O.RDONLY | O.CLOEXEC, 0], { what: `open the executable ${reg.name}` });
  }
  return { batch: b, expect, exe };
}

/** pread64 of one run, in pieces the kernel reads whole. */
function readRun(b: Batch, expect: MemoryBatch['expect'], fd: ResultRef, run: PageRun): void {
  for (let done = 0n; done < run.len; ) {
    const len = run.len - done > MAX_READ ? MAX_READ : run.len - done;
    const what = `read ${len} bytes of pages into ${hex(run.addr + done)}`;
    const ref = b.add('pread64', [fd, run.addr + done, len, run.offset + done], { what });
    expect.push({ ref, value: len, what });
    done += len;
  }
}

/** The parts of `run` outside the `skip` ranges (the vDSO's pages are the kernel's). */
export function clip(run: PageRun, skip: ReadonlyArray<{ start: bigint; end: bigint }>): PageRun[] {
  let pieces: PageRun[] = [run];
  for (const s of skip) {
    const next: PageRun[] = [];
    for (const p of pieces) {
      const end = p.addr + p.len;
      if (s.end <= p.addr || s.start >= end) {
        next.push(p);
        continue;
      }
      if (s.start > p.addr) next.push({ addr: p.addr, len: s.start - p.addr, offset: p.offset });
      if (s.end < end) next.push({ addr: s.end, len: end - s.end, offset: p.offset + (s.end - p.addr) });
    }
    pieces = next;
  }
  return pieces;
}

/** The second batch: `prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map)` with the exe fd, then closes it. */
function finishBatch(ctx: MemoryContext, exeFd: number): Batch {
  const mm = ctx.task.mm!;
  const b = new Batch(ctx.boot, ctx.leader.arch.nr);
  const auxv = mm.mm_saved_auxv ?? [];
  const auxvAddr = auxv.length > 0 ? b.data.words(auxv) : 0n;
  const map = new Uint8Array(PRCTL_MM_MAP_SIZE);
  const v = new DataView(map.buffer);
  [mm.mm_start_code, mm.mm_end_code, mm.mm_start_data, mm.mm_end_data, mm.mm_start_brk, mm.mm_brk, mm.mm_start_stack, mm.mm_arg_start, mm.mm_arg_end, mm.mm_env_start, mm.mm_env_end, auxvAddr]
    .forEach((x, i) => v.setBigUint64(i * 8, x, true));
  v.setUint32(96, auxv.length * 8, true);
  v.setInt32(100, exeFd, true);
  b.add('prctl', [PR.SET_MM, PR_SET_MM.MAP, b.data.put(map), PRCTL_MM_MAP_SIZE, 0], { what: 'set the mm fields, auxv and exe (PR_SET_MM_MAP)' });
  if (exeFd >= 0) b.add('close', [exeFd], { what: 'close the executable' });
  return b;
}

/**
 * The restore plan: every image a restore needs, read and validated before any task is touched.
 * A bad image (`IMG_*`), an image of another machine (`IMG_WRONG_ARCH`), or something this restore
 * cannot bring back yet (`RESTORE_UNSUPPORTED`) stops it here, with nothing started.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkCoreMachine, type CoreMachine } from '../images/core_arch.js';
import { ImageError } from '../images/errors.js';
import type {
  CoreEntry, FdinfoEntry, FileEntry, FsEntry, MemfdInodeEntry, MmEntry, PagemapEntry, PstreeEntry, SeccompFilter, TaskKobjIdsEntry,
} from '../images/generated/types.js';
import { CoreEntryMarch } from '../images/generated/types.js';
import { ImageDir } from '../images/image_dir.js';
import { imageFileName } from '../images/image_files.js';
import { pagemapEntryPages, readEntries, readEntriesWithExtra, readPagemap, readSingle } from '../images/typed.js';
import { RestoreError } from './errors.js';
import { joinShellSession, type ShellSession } from './shell_job.js';
import { checkSupported } from './support.js';

/** CRIU's task states (core_entry.tc.task_state). */
export const TASK_STATE = { ALIVE: 1, DEAD: 2, STOPPED: 3, ZOMBIE: 6 } as const;
/** pagemap_entry flags. */
export const PE = { PARENT: 1, LAZY: 2, PRESENT: 4 } as const;

/** A run of pages to read from a pages image into place. */
export interface PageRun {
  /** Where the pages go (a task address; an offset in the segment for shared memory). */
  addr: bigint;
  /** Bytes. */
  len: bigint;
  /** Offset in the pages image. */
  offset: bigint;
}

/** The pages of one address space or segment: a pages image and the runs it holds, in order. */
export interface PagesPlan {
  /** Absolute path of pages-N.img. */
  file: string;
  /** The pagemap image they come from (for messages). */
  image: string;
  runs: PageRun[];
}

/** One thread of a task. */
export interface ThreadPlan {
  tid: number;
  core: CoreEntry;
  image: string;
}

/** One task of the tree. */
export interface TaskPlan {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** The leader first. */
  threads: ThreadPlan[];
  /** Pids of its children, in pstree order. */
  children: number[];
  state: number;
  /** A zombie: only its exit status is restored. */
  zombie: boolean;
  exitCode: number;
  /** The rest is absent for zombies. */
  ids?: TaskKobjIdsEntry;
  mm?: MmEntry;
  pages?: PagesPlan;
  fs?: FsEntry;
  fds?: FdinfoEntry[];
}

/** Everything a restore needs. */
export interface RestorePlan {
  /** The images directory, absolute. */
  dir: string;
  images: ImageDir;
  /** Tasks in pstree order (every parent before its children). */
  tasks: TaskPlan[];
  root: TaskPlan;
  byPid: Map<number, TaskPlan>;
  files: Map<number, FileEntry>;
  /** Buffered pipe data, by pipe_id. */
  pipeData: Map<number, Uint8Array>;
  /** Buffered fifo data, by pipe_id (the fifo's inode). */
  fifoData: Map<number, Uint8Array>;
  /** memfd inodes (memfd.img), by inode_id. */
  memfds: Map<number, MemfdInodeEntry>;
  /** Pages of shared anonymous segments, by shmid (pagemap-shmem-SHMID.img). */
  shmem: Map<bigint, PagesPlan>;
  /** Every seccomp filter of the tree (seccomp.img), by index; each names the one below it (`prev`). */
  seccompFilters: SeccompFilter[];
  pageSize: number;
  /** --shell-job: the session and group of criu-ts the tree moved into (src/restore/shell_job.ts). */
  shellJob?: ShellSession;
}

const MACHINE: Record<string, CoreMachine> = { x86_64: 'X86_64', aarch64: 'AARCH64' };

/** Reads and validates the images in `dir` for a restore on this machine. */
export function loadPlan(dir: string, opts: { arch: string; pageSize: number; shellJob?: boolean }): RestorePlan {
  const abs = resolve(dir);
  const images = ImageDir.open(abs);
  readSingle(images, 'inventory');
  const pstree = readEntries(images, 'pstree');
  const tree = treeOf(pstree);
  const tasks = tree.map((t) => t.task);
  const machine = MACHINE[opts.arch];
  if (machine === undefined) throw new RestoreError('RESTORE_UNSUPPORTED', `Restoring on ${opts.arch} is not supported`);
  const files = new Map<number, FileEntry>();
  for (const f of readEntries(images, 'files')) files.set(f.id, f);
  const plan: RestorePlan = {
    dir: abs,
    images,
    tasks,
    root: tasks[0]!,
    byPid: new Map(tasks.map((t) => [t.pid, t])),
    files,
    pipeData: readPipeData(images, 'pipesData'),
    fifoData: readPipeData(images, 'fifoData'),
    memfds: new Map(images.has(imageFileName('memfd')) ? readEntries(images, 'memfd').map((m) => [Number(m.inode_id), m]) : []),
    shmem: new Map(),
    seccompFilters: [],
    pageSize: opts.pageSize,
  };
  for (const { task, tids } of tree) loadTask(plan, task, tids, machine);
  for (const m of plan.memfds.values()) loadShmem(plan, BigInt(m.shmid));
  if (images.has(imageFileName('seccomp'))) plan.seccompFilters = readSingle(images, 'seccomp').seccomp_filters ?? [];
  if (opts.shellJob === true) {
    const moved = joinShellSession(plan);
    if (moved !== undefined) plan.shellJob = moved;
  }
  checkSupported(plan);
  return plan;
}

/** The tasks of pstree.img, checked: unique pids, one root, every parent listed before its children. */
function treeOf(pstree: PstreeEntry[]): Array<{ task: TaskPlan; tids: number[] }> {
  const file = imageFileName('pstree');
  if (pstree.length === 0) throw new ImageError('IMG_MISSING', { file }, 'the process tree is empty');
  const seen = new Map<number, TaskPlan>();
  const tasks: Array<{ task: TaskPlan; tids: number[] }> = [];
  for (const e of pstree) {
    if (seen.has(e.pid) || e.pid <= 0) throw new ImageError('IMG_BAD_PAYLOAD', { file }, `task ${e.pid} is listed twice or is not a valid pid`);
    const threads = e.threads && e.threads.length > 0 ? e.threads : [e.pid];
    if (threads[0] !== e.pid) throw new ImageError('IMG_BAD_PAYLOAD', { file }, `task ${e.pid}: its first thread is ${threads[0]}, not the task itself`);
    const task: TaskPlan = { pid: e.pid, ppid: e.ppid, pgid: e.pgid, sid: e.sid, threads: [], children: [], state: TASK_STATE.ALIVE, zombie: false, exitCode: 0 };
    if (tasks.length === 0) {
      if (e.ppid !== 0) throw new ImageError('IMG_BAD_PAYLOAD', { file }, `the first task ${e.pid} has parent ${e.ppid}: it is not a root`);
    } else {
      const parent = seen.get(e.ppid);
      if (parent === undefined) throw new ImageError('IMG_BAD_PAYLOAD', { file }, `task ${e.pid}: its parent ${e.ppid} is not listed before it`);
      parent.children.push(e.pid);
    }
    seen.set(e.pid, task);
    tasks.push({ task, tids: threads });
  }
  return tasks;
}

function loadTask(plan: RestorePlan, task: TaskPlan, tids: readonly number[], machine: CoreMachine): void {
  const images = plan.images;
  for (const tid of tids) {
    const image = imageFileName('core', tid);
    const raw = images.readKind('core', tid);
    const core = raw.entries[0]?.message as unknown as CoreEntry | undefined;
    if (core === undefined || raw.entries.length !== 1) throw new ImageError('IMG_TRAILING_BYTES', { file: join(plan.dir, image) }, `expected one entry, found ${raw.entries.length}`);
    if (tid === task.pid && core.tc?.task_state === TASK_STATE.ZOMBIE) {
      if (core.mtype !== CoreEntryMarch[machine]) checkCoreMachine(raw, machine, join(plan.dir, image));
      task.threads.push({ tid, core, image });
      continue;
    }
    checkCoreMachine(raw, machine, join(plan.dir, image));
    task.threads.push({ tid, core, image });
  }
  const tc = task.threads[0]!.core.tc;
  if (tc === undefined) throw new ImageError('IMG_BAD_PAYLOAD', { file: join(plan.dir, task.threads[0]!.image) }, `task ${task.pid} has no task core (tc)`);
  task.state = tc.task_state;
  task.exitCode = tc.exit_code;
  if (tc.task_state === TASK_STATE.ZOMBIE) {
    task.zombie = true;
    return;
  }
  if (tc.task_state !== TASK_STATE.ALIVE && tc.task_state !== TASK_STATE.STOPPED) {
    throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid} is in state ${tc.task_state}, which cannot be restored`, { pid: task.pid, image: task.threads[0]!.image });
  }
  task.ids = task.threads[0]!.core.ids ?? readSingle(images, 'ids', task.pid);
  task.mm = readSingle(images, 'mm', task.pid);
  task.fs = readSingle(images, 'fs', task.pid);
  task.fds = readEntries(images, 'fdinfo', task.ids.files_id);
  const pagemap = readPagemap(images, task.pid);
  task.pages = pagesPlan(plan, imageFileName('pagemap', task.pid), pagemap.head.pages_id, pagemap.entries);
  for (const vma of task.mm.vmas ?? []) if ((vma.status & VMA_ANON_SHARED) !== 0) loadShmem(plan, vma.shmid);
}

/** The pages of shared segment `shmid` (pagemap-shmem-SHMID.img), once; none when it has no image. */
function loadShmem(plan: RestorePlan, shmid: bigint): void {
  if (plan.shmem.has(shmid)) return;
  const name = imageFileName('shmemPagemap', shmid);
  if (!plan.images.has(name)) return;
  const [head, ...entries] = plan.images.read(name).entries;
  const pagesId = (head!.message as unknown as { pages_id: number }).pages_id;
  plan.shmem.set(shmid, pagesPlan(plan, name, pagesId, entries.map((e) => e.message as unknown as PagemapEntry)));
}

const VMA_ANON_SHARED = 1 << 8;

/**
 * The runs of a pagemap, with their offsets in the pages image; the image must hold exactly the
 * present pages (a shorter one is IMG_TRUNCATED, a longer one IMG_TRAILING_BYTES).
 */
function pagesPlan(plan: RestorePlan, image: string, pagesId: number, entries: readonly PagemapEntry[]): PagesPlan {
  const file = join(plan.dir, imageFileName('pages', pagesId));
  const page = BigInt(plan.pageSize);
  const runs: PageRun[] = [];
  let offset = 0n;
  for (const e of entries) {
    const flags = e.flags ?? (e.in_parent ? PE.PARENT : PE.PRESENT);
    if (flags & PE.PARENT) throw new RestoreError('RESTORE_UNSUPPORTED', `${image}: pages at 0x${e.vaddr.toString(16)} are in a parent image (incremental dumps are not restored yet)`, { image });
    if (!(flags & PE.PRESENT)) continue;
    const len = pagemapEntryPages(e) * page;
    runs.push({ addr: e.vaddr, len, offset });
    offset += len;
  }
  let size: bigint;
  try {
    size = statSync(file, { bigint: true }).size;
  } catch (err) {
    throw new ImageError('IMG_MISSING', { file }, `the pages of ${image} are missing: ${(err as Error).message}`, { cause: err });
  }
  if (size < offset) throw new ImageError('IMG_TRUNCATED', { file, offset: Number(size) }, `${image} needs ${offset} bytes of pages, the file has ${size}`);
  if (size > offset) throw new ImageError('IMG_TRAILING_BYTES', { file, offset: Number(offset) }, `${image} needs ${offset} bytes of pages, the file has ${size}`);
  return { file, image, runs };
}

function readPipeData(images: ImageDir, key: 'pipesData' | 'fifoData'): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  if (!images.has(imageFileName(key))) return out;
  for (const { entry, extra } of readEntriesWithExtra(images, key)) {
    const data = extra instanceof Uint8Array ? extra : new Uint8Array(0);
    if (data.byteLength !== entry.bytes) throw new ImageError('IMG_TRUNCATED', { file: join(images.path, imageFileName(key)) }, `pipe ${entry.pipe_id}: ${data.byteLength} bytes of data, the entry says ${entry.bytes}`);
    out.set(entry.pipe_id, data);
  }
  return out;
}

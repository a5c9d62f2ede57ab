/**
 * Ghost files: files deleted while still open (nlink 0). Their contents travel with the images,
 * as CRIU carries them: ghost-file-N.img holds a ghost_file_entry (owner, mode, times, device and
 * inode) and, for a regular file, its bytes (whole when under 12 KiB, else one ghost_chunk_entry
 * per data extent found with SEEK_DATA/SEEK_HOLE, each followed by its bytes); remap-fpath.img
 * says which reg_file_entry is restored through which ghost. One ghost per inode however many fds
 * or tasks hold it; files allocating more than the ghost limit (1 MiB, CRIU's default) are refused.
 * Directories, fifos and device nodes carry no contents (device nodes their rdev).
 */
import type { BigIntStats } from 'node:fs';
import type { ImageEntry } from '../../images/framing.js';
import type { GhostFileEntry } from '../../images/generated/types.js';
import { RemapType } from '../../images/generated/types.js';
import type { PbMessage } from '../../images/wire.js';
import { O, SEEK, close, isSysError, lseek, open, pread } from '../../sys/index.js';
import { FdDumpError, type FdDumpContext, type FdFacts } from './kind.js';

/** CRIU's default --ghost-limit. */
export const DEFAULT_GHOST_LIMIT = 1n << 20n;
/** Regular files at least this big are stored as chunks (CRIU's GHOST_CHUNKS_THRESH). */
const CHUNKS_THRESHOLD = 3n * 4096n;

const S_IFMT = 0o170000n;
const S_IFREG = 0o100000n;
const S_IFCHR = 0o020000n;
const S_IFBLK = 0o060000n;

interface GhostState {
  nextId: number;
  /** ghost id by `dev:ino` */
  byInode: Map<string, number>;
}

const states = new WeakMap<FdDumpContext, GhostState>();

function stateOf(ctx: FdDumpContext): GhostState {
  let state = states.get(ctx);
  if (!state) {
    state = { nextId: 1, byInode: new Map() };
    states.set(ctx, state);
  }
  return state;
}

/**
 * Carries the file behind `f` (deleted, nlink 0) as a ghost for the reg_file_entry `regId`: writes
 * its ghost image the first time its inode is met, and a remap-fpath entry every time.
 */
export function dumpGhost(f: FdFacts, ctx: FdDumpContext, regId: number): void {
  const state = stateOf(ctx);
  const key = `${f.stat.dev}:${f.stat.ino}`;
  let ghostId = state.byInode.get(key);
  if (ghostId === undefined) {
    const limit = ctx.options.ghostLimit ?? DEFAULT_GHOST_LIMIT;
    const allocated = f.stat.blocks * 512n;
    if (allocated > limit) {
      throw new FdDumpError('FD_TOO_BIG', f.pid, f.fd, `the deleted file ${f.link} holds ${allocated} bytes, over the ghost limit of ${limit}`);
    }
    const writer = ctx.options.writer;
    if (!writer) throw new FdDumpError('FD_FAILED', f.pid, f.fd, `the deleted file ${f.link} needs an images directory to carry its contents`);
    ghostId = state.nextId++;
    writer.writeKind('ghostFile', ghostId, { magic: 'GHOST_FILE', entries: ghostEntries(f) });
    state.byInode.set(key, ghostId);
  }
  const remaps = ctx.extra.get('remapFpath') ?? [];
  remaps.push({ orig_id: regId, remap_id: ghostId, remap_type: RemapType.GHOST });
  ctx.extra.set('remapFpath', remaps);
}

/** The kernel's dev_t (major << 20 | minor) of a stat() device number (glibc's encoding). */
export function kernelDev(dev: bigint): number {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return Number((major << 20n) | minor) >>> 0;
}

function ghostHead(st: BigIntStats): GhostFileEntry {
  const type = st.mode & S_IFMT;
  const head: GhostFileEntry = {
    uid: Number(st.uid),
    gid: Number(st.gid),
    mode: Number(st.mode),
    dev: kernelDev(st.dev),
    ino: st.ino,
    atim: { tv_sec: st.atimeNs / 1_000_000_000n, tv_usec: (st.atimeNs % 1_000_000_000n) / 1000n },
    mtim: { tv_sec: st.mtimeNs / 1_000_000_000n, tv_usec: (st.mtimeNs % 1_000_000_000n) / 1000n },
  };
  if (type === S_IFCHR || type === S_IFBLK) head.rdev = Number(st.rdev);
  if (type === S_IFREG && st.size >= CHUNKS_THRESHOLD) {
    head.chunks = true;
    head.size = st.size;
  }
  return head;
}

function ghostEntries(f: FdFacts): ImageEntry[] {
  const head = ghostHead(f.stat);
  const message = (m: object) => m as unknown as PbMessage;
  if ((f.stat.mode & S_IFMT) !== S_IFREG) return [{ type: 'ghost_file_entry', message: message(head) }];
  // Opened again for reading: the task's own fd may be write-only.
  const fd = open(`/proc/self/fd/${f.local}`, { flags: O.RDONLY | O.CLOEXEC, what: `read the deleted file ${f.link} of task ${f.pid}` });
  try {
    if (!head.chunks) return [{ type: 'ghost_file_entry', message: message(head), extra: readRange(fd, 0n, f.stat.size) }];
    const entries: ImageEntry[] = [{ type: 'ghost_file_entry', message: message(head) }];
    for (const { off, len } of dataExtents(fd, f.stat.size)) {
      entries.push({ type: 'ghost_chunk_entry', message: message({ len, off }), extra: readRange(fd, off, len) });
    }
    return entries;
  } finally {
    close(fd);
  }
}

/** The data extents of a file below `size` (the whole file when the fs cannot tell). */
function dataExtents(fd: number, size: bigint): Array<{ off: bigint; len: bigint }> {
  const out: Array<{ off: bigint; len: bigint }> = [];
  let hole = 0n;
  while (hole < size) {
    let data: bigint;
    try {
      data = lseek(fd, hole, { whence: SEEK.DATA });
    } catch (err) {
      if (isSysError(err, 'ENXIO')) break; // nothing more but holes
      if (hole !== 0n) throw err;
      out.push({ off: 0n, len: size }); // no SEEK_DATA on this filesystem
      break;
    }
    hole = lseek(fd, data, { whence: SEEK.HOLE });
    out.push({ off: data, len: hole - data });
  }
  return out;
}

function readRange(fd: number, off: bigint, len: bigint): Uint8Array {
  const out = new Uint8Array(Number(len));
  let got = 0;
  while (got < out.length) {
    const n = pread(fd, out.subarray(got), { offset: off + BigInt(got) });
    if (n === 0) break; // the file shrank since it was stat'ed: the rest reads as zeros
    got += n;
  }
  return out;
}

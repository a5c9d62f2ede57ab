/**
 * Files deleted while open (remap-fpath.img entries of type GHOST, contents in ghost-file-N.img),
 * made again as CRIU makes them: the ghost is created beside the file it stands for (as
 * `NAME.cr.ID.ghost`; a missing directory is skipped for its parent, as CRIU's
 * trim_last_parent does; a directory ghost is made at the name itself), filled (whole, or chunk
 * by chunk into a file of its size, holes kept), given its owner, mode and times. Then each open
 * file of it is opened under the name it had (the ghost linked there, opened at its flags and
 * offset, the link removed), so /proc shows the old name, deleted; last, the ghost is removed.
 * All open files of one ghost are made at once, so nothing of it is left on disk however the
 * restore ends.
 *
 * Refused up front ({@link checkRemaps}): link remaps and /proc remaps, ghosts that are not
 * regular files or directories, and ghosts needed other than as a task's open file (a mapping,
 * an executable, a cwd, a fifo or terminal path).
 */
import { chownSync, chmodSync, closeSync, linkSync, lutimesSync, mkdirSync, openSync, rmdirSync, unlinkSync, writeSync, ftruncateSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { GhostFileEntry, RegFileEntry, RemapFilePathEntry } from '../../images/generated/types.js';
import { FdTypes, RemapType } from '../../images/generated/types.js';
import { ImageError, type ImageErrorCode } from '../../images/errors.js';
import { imageFileName } from '../../images/image_files.js';
import { readEntries } from '../../images/typed.js';
import { O, SEEK, lseek, open } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { RestorePlan } from '../plan.js';
import { REG_OPENER } from './basic_kinds.js';
import type { FileKindOpener, OpenContext } from './kind.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** Flags open() would act on again (creating, truncating): never passed back. */
const STRIP = O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY;

/** The remaps of remap-fpath.img by the id of the reg_file_entry they remap. */
export function remapsOf(plan: RestorePlan): Map<number, RemapFilePathEntry> {
  const image = plan.images.readOptional('remapFpath');
  if (image === undefined) return new Map();
  return new Map(readEntries(plan.images, 'remapFpath').map((r) => [r.orig_id, r]));
}

/**
 * RESTORE_UNSUPPORTED for the remaps restore cannot do: anything but a ghost, a ghost of a kind
 * that is not made again, or a ghost used other than as an open file of a task.
 */
export function checkRemaps(plan: RestorePlan): void {
  const remaps = remapsOf(plan);
  if (remaps.size === 0) return;
  const fdUses = new Set<number>();
  for (const task of plan.tasks) for (const fd of task.fds ?? []) if (plan.files.get(fd.id)?.type === FdTypes.REG) fdUses.add(fd.id);
  for (const r of remaps.values()) {
    const name = plan.files.get(r.orig_id)?.reg?.name ?? `file ${r.orig_id}`;
    const type = r.remap_type ?? RemapType.LINKED;
    if (type !== RemapType.GHOST) {
      throw new RestoreError('RESTORE_UNSUPPORTED', `${name} was ${type === RemapType.LINKED ? 'unlinked and is reached through another link (a link remap)' : 'a file of a dead process (a /proc remap)'}: restoring it is not supported`, { image: 'remap-fpath.img', path: name });
    }
    if (!fdUses.has(r.orig_id)) {
      throw new RestoreError('RESTORE_UNSUPPORTED', `${name} was deleted while in use as something other than an open file (a mapping, an executable, a working directory, a fifo or terminal path): restoring that is not supported`, { image: 'remap-fpath.img', path: name });
    }
  }
  for (const task of plan.tasks) {
    if (task.zombie) continue;
    for (const id of [task.mm!.exe_file_id, task.fs!.cwd_id, task.fs!.root_id, ...(task.mm!.vmas ?? []).map((v) => Number(v.shmid))]) {
      const r = remaps.get(id);
      if (r !== undefined && plan.files.get(id)?.reg !== undefined) {
        throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid}: ${plan.files.get(id)!.reg!.name} was deleted while mapped or in use as its executable, cwd or root: restoring that is not supported`, { pid: task.pid, image: 'remap-fpath.img' });
      }
    }
  }
}

const states = new WeakMap<OpenContext, { remaps: Map<number, RemapFilePathEntry>; made: Map<number, number> }>();

/**
 * Regular files: through their ghost when remap-fpath.img says they were deleted, else as
 * {@link REG_OPENER} opens them.
 */
export const GHOST_AWARE_REG_OPENER: FileKindOpener = {
  kind: 'REG',
  open(entry, ctx) {
    let st = states.get(ctx);
    if (st === undefined) {
      st = { remaps: remapsOf(ctx.plan), made: new Map() };
      states.set(ctx, st);
    }
    const remap = st.remaps.get(entry.id);
    if (remap === undefined) return REG_OPENER.open(entry, ctx);
    let fd = st.made.get(entry.id);
    if (fd === undefined) {
      const users = [...st.remaps.values()].filter((r) => r.remap_id === remap.remap_id).map((r) => ctx.plan.files.get(r.orig_id)!.reg!);
      for (const [id, made] of openThroughGhost(ctx, remap.remap_id, users)) st.made.set(id, made);
      fd = st.made.get(entry.id)!;
    }
    return fd;
  },
};

/** Makes ghost `ghostId`, opens each of `users` through it, removes it; returns their fds by id. */
function openThroughGhost(ctx: OpenContext, ghostId: number, users: RegFileEntry[]): Map<number, number> {
  const first = users[0]!;
  const image = imageFileName('ghostFile', ghostId);
  const where = holderOf(ctx.plan, first.id);
  const [head, ...rest] = readGhostImage(ctx.plan, ghostId, where, first.name);
  const ghost = head.message;
  const type = ghost.mode & S_IFMT;
  if (type !== S_IFREG && type !== S_IFDIR) {
    throw new RestoreError('RESTORE_UNSUPPORTED', `${where}: ${first.name} was deleted while open and its ghost is a file of type 0o${type.toString(8)}, which is not made again (only regular files and directories are)`, { image, path: first.name });
  }
  const out = new Map<number, number>();
  const path = type === S_IFDIR ? first.name : ghostPath(first.name, ghostId);
  let made = false;
  try {
    if (type === S_IFDIR) {
      mkdirSync(path, { mode: ghost.mode & 0o7777 });
    } else {
      checkWholeSize(ctx.plan, ghostId, where, first, ghost, head.extra);
      writeGhostFile(path, ghost, head.extra, rest);
    }
    made = true;
    applyMetadata(path, ghost);
    for (const reg of users) {
      const fd = type === S_IFDIR ? openAt(ctx, path, reg) : openUnderOldName(ctx, path, reg);
      out.set(reg.id, fd);
    }
  } catch (err) {
    if (err instanceof RestoreError || err instanceof ImageError) throw err;
    throw new RestoreError('RESTORE_FAILED', `${where}: cannot make the deleted file ${first.name} again from ${image} (at ${path}): ${(err as Error).message}`, { ...pidOf(ctx.plan, first.id), image, path, step: 'open its files', cause: err });
  } finally {
    if (made) {
      if (type === S_IFDIR) rmdirSync(path);
      else unlinkSync(path);
    }
  }
  return out;
}

/**
 * A file carried whole (not in chunks) must have the size its reg_file_entry recorded: a shorter
 * one was cut (IMG_TRUNCATED), a longer one has bytes that are not its own (IMG_TRAILING_BYTES).
 */
function checkWholeSize(plan: RestorePlan, ghostId: number, where: string, reg: RegFileEntry, ghost: GhostFileEntry, whole: unknown): void {
  if (ghost.chunks === true || reg.size === undefined) return;
  const got = whole instanceof Uint8Array ? whole.byteLength : 0;
  if (BigInt(got) === reg.size) return;
  const file = join(plan.dir, imageFileName('ghostFile', ghostId));
  throw new ImageError(BigInt(got) < reg.size ? 'IMG_TRUNCATED' : 'IMG_TRAILING_BYTES', { file }, `${where} (${reg.name}, deleted while open): the image holds ${got} bytes of it, the file had ${reg.size}`);
}

/** `NAME.cr.ID.ghost` (CRIU's name), in the file's directory or the nearest one that exists. */
function ghostPath(name: string, ghostId: number): string {
  let dir = dirname(name);
  while (!existsSync(dir) && dir !== '/') dir = dirname(dir);
  return join(dir, `${basename(name)}.cr.${ghostId.toString(16)}.ghost`);
}

/** `open(O_WRONLY|O_CREAT|O_EXCL)`, then the contents: whole, or `ftruncate` + each chunk at its offset. */
function writeGhostFile(path: string, ghost: GhostFileEntry, whole: unknown, chunks: Array<{ message: { off: bigint; len: bigint }; extra: unknown }>): void {
  const fd = openSync(path, 'wx', ghost.mode & 0o7777);
  let ok = false;
  try {
    if (ghost.chunks === true) {
      ftruncateSync(fd, Number(ghost.size ?? 0n));
      for (const c of chunks) writeAll(fd, c.extra as Uint8Array, Number(c.message.off));
    } else {
      writeAll(fd, whole instanceof Uint8Array ? whole : new Uint8Array(0), 0);
    }
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) unlinkSync(path);
  }
}

function writeAll(fd: number, data: Uint8Array, at: number): void {
  for (let done = 0; done < data.byteLength; ) done += writeSync(fd, data, done, data.byteLength - done, at + done);
}

/** `chown`, `chmod`, `lutimes` as the ghost entry says (CRIU's ghost_apply_metadata). */
function applyMetadata(path: string, ghost: GhostFileEntry): void {
  chownSync(path, ghost.uid, ghost.gid);
  chmodSync(path, ghost.mode & 0o7777);
  if (ghost.atim !== undefined && ghost.mtim !== undefined) {
    const secs = (t: { tv_sec: bigint; tv_usec: bigint }) => Number(t.tv_sec) + Number(t.tv_usec) / 1e6;
    lutimesSync(path, secs(ghost.atim), secs(ghost.mtim));
  }
}

/**
 * `link(ghost, NAME)`, `open(NAME, flags)`, `lseek(pos)`, `unlink(NAME)`: the open file has its old
 * name. When something else has taken the name since, the ghost's own name is used instead.
 */
function openUnderOldName(ctx: OpenContext, ghost: string, reg: RegFileEntry): number {
  try {
    linkSync(ghost, reg.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return openAt(ctx, ghost, reg);
    throw err;
  }
  try {
    return openAt(ctx, reg.name, reg);
  } finally {
    unlinkSync(reg.name);
  }
}

function openAt(ctx: OpenContext, path: string, reg: RegFileEntry): number {
  const fd = open(path, { flags: (reg.flags & ~STRIP) | O.CLOEXEC, what: `open ${path} (file ${reg.id})` });
  ctx.opened.push(fd);
  if (reg.pos !== 0n) lseek(fd, reg.pos, { whence: SEEK.SET, what: `seek ${reg.name} to ${reg.pos}` });
  return fd;
}

type GhostImageEntry = { message: GhostFileEntry; extra: unknown };

/** ghost-file-N.img, its head first; a bad or short image is an IMG_* error naming the task and fd. */
function readGhostImage(plan: RestorePlan, ghostId: number, where: string, name: string): [GhostImageEntry, ...Array<{ message: { off: bigint; len: bigint }; extra: unknown }>] {
  let entries;
  try {
    entries = plan.images.readKind('ghostFile', ghostId).entries;
  } catch (err) {
    if (err instanceof ImageError) {
      const what = err.message.startsWith(`${err.file}`) ? err.message.slice(err.message.indexOf(': ') + 2) : err.message;
      throw new ImageError(err.code as ImageErrorCode, { file: err.file, ...(err.offset === undefined ? {} : { offset: err.offset }) }, `${where} (${name}, deleted while open): its contents cannot be read: ${what}`, { cause: err });
    }
    throw err;
  }
  return entries as unknown as [GhostImageEntry, ...Array<{ message: { off: bigint; len: bigint }; extra: unknown }>];
}

/** `Task P, fd N` of the first fd that holds file `id`. */
function holderOf(plan: RestorePlan, id: number): string {
  for (const task of plan.tasks) for (const fd of task.fds ?? []) if (fd.id === id) return `Task ${task.pid}, fd ${fd.fd}`;
  return `File ${id}`;
}

function pidOf(plan: RestorePlan, id: number): { pid?: number } {
  for (const task of plan.tasks) for (const fd of task.fds ?? []) if (fd.id === id) return { pid: task.pid };
  return {};
}

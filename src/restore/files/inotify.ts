/**
 * inotify instances (files.img INOTIFY with their watches), made again in the driver as CRIU's
 * fsnotify restore does: `inotify_init1()` with the file's O_NONBLOCK, then each watch, in
 * increasing watch-descriptor order, added on the inode it watched, reached by the path the dump
 * found for it (checked to still be that inode) or else by its file handle
 * (`open_by_handle_at` on a mount of its device), through `/proc/self/fd/N` of an O_PATH fd. Watch
 * descriptors come back with their numbers: `ioctl(INOTIFY_IOC_SETNEXTWD, wd)` names the next
 * one (CONFIG_CHECKPOINT_RESTORE); without it, watches are added and removed until the kernel's
 * counter reaches the number (each removal queues an IN_IGNORED event, as in CRIU). The mask is
 * the watch's events and its IN_EXCL_UNLINK/IN_ONESHOT flags. Events not read before the dump
 * are not in the image (CRIU drops them too).
 */
import { lstatSync } from 'node:fs';
import type { InotifyWdEntry } from '../../images/generated/types.js';
import { readMountInfo } from '../../proc/index.js';
import { O, close, isSysError, open, openByHandleAt, syscall } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { FileKindOpener, OpenContext } from './kind.js';

/** `IN_ALL_EVENTS`, and the flags a watch keeps (`IN_EXCL_UNLINK`, `IN_ONESHOT`). */
const IN_ALL_EVENTS = 0x00000fff;
const IN_EXCL_UNLINK = 0x04000000;
const IN_ONESHOT = 0x80000000;
const WATCH_MASK = (IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT) >>> 0;
/** `INOTIFY_IOC_SETNEXTWD`: `_IOW('I', 0, __s32)`. */
const INOTIFY_IOC_SETNEXTWD = 0x40044900;
/** inotify_init1 takes O_NONBLOCK and O_CLOEXEC (the driver's copy is always close-on-exec). */
const NONBLOCK = O.NONBLOCK;
/** Most watches added and removed to reach one number without INOTIFY_IOC_SETNEXTWD. */
const MAX_SKIPS = 1 << 16;

export const INOTIFY_OPENER: FileKindOpener = {
  kind: 'INOTIFY',
  open(entry, ctx) {
    const ify = entry.ify!;
    const fd = Number(syscall('inotify_init1', O.CLOEXEC | (ify.flags & NONBLOCK)));
    ctx.opened.push(fd);
    const holder = holderOf(ctx, entry.id);
    for (const w of [...(ify.wd ?? [])].sort((a, b) => a.wd - b.wd)) addWatch(fd, w, holder);
    return fd;
  },
};

/** One watch, with its number. */
function addWatch(fd: number, w: InotifyWdEntry, holder: { where: string; pid?: number }): void {
  const what = `inotify watch ${w.wd} (inode ${w.i_ino} on ${w.s_dev >>> 20}:${w.s_dev & 0xfffff}${w.f_handle.path === undefined ? '' : `, ${w.f_handle.path}`})`;
  const fail = (why: string, cause?: unknown) =>
    new RestoreError('RESTORE_FAILED', `${holder.where}: cannot add ${what}: ${why}`, { ...(holder.pid === undefined ? {} : { pid: holder.pid }), image: 'files.img', step: 'open its files', ...(cause === undefined ? {} : { cause }) });
  const target = openWatched(w);
  if (target === undefined) throw fail('the inode is not there any more (no path leads to it and its file handle opens nothing)');
  try {
    const path = `/proc/self/fd/${target}`;
    const mask = w.mask & WATCH_MASK;
    let exact = true;
    try {
      syscall('ioctl', fd, INOTIFY_IOC_SETNEXTWD, w.wd);
    } catch (err) {
      if (!isSysError(err, 'ENOTTY') && !isSysError(err, 'EINVAL')) throw fail((err as Error).message, err);
      exact = false;
    }
    for (let skipped = 0; ; skipped++) {
      let got: number;
      try {
        got = Number(syscall('inotify_add_watch', fd, Buffer.from(`${path}\0`), mask));
      } catch (err) {
        throw fail((err as Error).message, err);
      }
      if (got === w.wd) return;
      if (exact || got > w.wd || skipped >= MAX_SKIPS) throw fail(`the kernel gave it number ${got}`);
      syscall('inotify_rm_watch', fd, got);
    }
  } finally {
    close(target);
  }
}

/**
 * An O_PATH fd of the watched inode: by the path the dump recorded when it still leads to that
 * inode, else by its file handle on a mount of its device; undefined when neither finds it.
 */
function openWatched(w: InotifyWdEntry): number | undefined {
  const path = w.f_handle.path;
  if (path !== undefined) {
    try {
      if (lstatSync(path, { bigint: true }).ino === w.i_ino) return open(path, { flags: O.PATH | O.CLOEXEC });
    } catch {
      // gone, or another file: try the handle
    }
  }
  const handle = handleBytes(w);
  const major = w.s_dev >>> 20;
  const minor = w.s_dev & 0xfffff;
  for (const mount of readMountInfo(process.pid).filter((m) => m.major === major && m.minor === minor)) {
    let mountFd: number;
    try {
      mountFd = open(mount.mountPoint, { flags: O.RDONLY | O.DIRECTORY | O.CLOEXEC });
    } catch {
      continue; // covered by another mount, or a file bind-mounted alone
    }
    try {
      return openByHandleAt(mountFd, { type: w.f_handle.type, bytes: handle }, { flags: O.PATH | O.CLOEXEC });
    } catch {
      // not on this mount (ESTALE): try the next
    } finally {
      close(mountFd);
    }
  }
  return undefined;
}

/** The handle's bytes from fh_entry's little-endian u64 words. */
function handleBytes(w: InotifyWdEntry): Uint8Array {
  const words = w.f_handle.handle ?? [];
  const raw = Buffer.alloc(words.length * 8);
  words.forEach((word, i) => raw.writeBigUInt64LE(word, i * 8));
  return raw.subarray(0, Math.min(w.f_handle.bytes, raw.length));
}

/** `Task P, fd N` of the first fd that holds file `id`. */
function holderOf(ctx: OpenContext, id: number): { where: string; pid?: number } {
  for (const task of ctx.plan.tasks) for (const fd of task.fds ?? []) if (fd.id === id) return { where: `Task ${task.pid}, fd ${fd.fd}`, pid: task.pid };
  return { where: `File ${id}` };
}

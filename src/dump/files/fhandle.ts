/**
 * Watched inodes named by their file handle (inotify, fanotify): the handle as CRIU stores it
 * (fh_entry: 16 little-endian u64 words holding the handle bytes), and the path the inode has
 * now, found the way CRIU's check_open_handle() does: open the handle on a mount of the inode's
 * superblock (open_by_handle_at), read the path of what opened, and keep it only if that path
 * leads to the same inode from the task's root.
 *
 * Not done (CRIU does it): the irmap scan that looks for a path when the handle cannot be opened,
 * and mnt_id (set by CRIU only when it dumps mount namespaces).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import type { FhEntry } from '../../images/generated/types.js';
import { readMountInfo, type InotifyWatch } from '../../proc/index.js';
import { O, close, isSysError, open, openByHandleAt } from '../../sys/index.js';

/** fh_entry_sizes.min_entries: CRIU always stores 16 words (128 bytes, MAX_HANDLE_SZ). */
const FH_WORDS = 16;

/** The handle of a watch as an fh_entry, without its path. */
export function fhEntry(handle: NonNullable<InotifyWatch['handle']>): FhEntry {
  const raw = new Uint8Array(FH_WORDS * 8);
  raw.set(handle.data.subarray(0, raw.length));
  const view = new DataView(raw.buffer);
  const words: bigint[] = [];
  for (let i = 0; i < FH_WORDS; i++) words.push(view.getBigUint64(i * 8, true));
  return { bytes: handle.bytes, type: handle.type, handle: words };
}

/** What became of a watched inode. */
export type WatchedInode =
  /** Opened by its handle, and reachable from the task's root by this path. */
  | { kind: 'path'; path: string }
  /** Opened by its handle, but no path of it leads back to it (the handle alone names it). */
  | { kind: 'handle-only'; fsType: string }
  /** No mount of its filesystem opens the handle: the inode is gone (deleted) or unreachable. */
  | { kind: 'gone' };

/** Where the inode of `watch` is now, as seen by task `pid`. */
export function locateWatchedInode(pid: number, watch: InotifyWatch): WatchedInode {
  const major = watch.sdev >>> 20;
  const minor = watch.sdev & 0xfffff;
  const mounts = readMountInfo(pid).filter((m) => m.major === major && m.minor === minor);
  let opened: { fsType: string } | undefined;
  for (const mount of mounts) {
    let mountFd: number;
    try {
      // open_by_handle_at() wants a real open file (an O_PATH fd is EBADF): the mount's root
      // directory. (A file bind-mounted alone is skipped.)
      mountFd = open(`/proc/${pid}/root${mount.mountPoint}`, { flags: O.RDONLY | O.DIRECTORY | O.CLOEXEC });
    } catch (err) {
      if (isSysError(err)) continue; // covered by another mount, or gone
      throw err;
    }
    let fd: number;
    try {
      fd = openByHandleAt(mountFd, { type: watch.handle!.type, bytes: watch.handle!.data }, { flags: O.PATH | O.CLOEXEC });
    } catch (err) {
      if (isSysError(err)) continue; // ESTALE: not (or no longer) on this mount
      throw err;
    } finally {
      close(mountFd);
    }
    try {
      opened = { fsType: mount.fsType };
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      if (path.startsWith('/') && sameInode(`/proc/${pid}/root${path}`, watch)) return { kind: 'path', path };
    } finally {
      close(fd);
    }
  }
  return opened ? { kind: 'handle-only', fsType: opened.fsType } : { kind: 'gone' };
}

function sameInode(path: string, watch: InotifyWatch): boolean {
  try {
    const st = lstatSync(path, { bigint: true });
    return st.ino === watch.ino;
  } catch {
    return false;
  }
}

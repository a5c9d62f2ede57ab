/**
 * Kernel file handles (struct file_handle): the name of an inode that does not depend on a path,
 * as inotify and fanotify report their watches in fdinfo.
 */

import { type SysContext } from './error.js';
import { cPath, pathText, type PathLike } from './io.js';
import { fail, keepAlive, lastErrno, sysPtr } from './libc.js';
import { NR } from './syscalls.js';

/** The largest handle the kernel hands out (`MAX_HANDLE_SZ`). */
export const MAX_HANDLE_SZ = 128;

/** A file handle: its type (`handle_type`) and its opaque bytes (`handle_bytes` of them). */
export interface FileHandle {
  type: number;
  bytes: Uint8Array;
}

function encodeHandle(handle: FileHandle): Uint8Array {
  const buf = new Uint8Array(8 + handle.bytes.length);
  const view = new DataView(buf.buffer);
  view.setUint32(0, handle.bytes.length, true);
  view.setInt32(4, handle.type, true);
  buf.set(handle.bytes, 8);
  return buf;
}

/** Options of nameToHandleAt. */
export interface NameToHandleOptions extends SysContext {
  /** `AT_*` flags (`AT.EMPTY_PATH`, `AT.SYMLINK_FOLLOW`, `AT_HANDLE_FID`). */
  flags?: number;
}

/** `name_to_handle_at(dirfd, path, handle, &mount_id, flags)` — the handle of a path and its mount id. */
export function nameToHandleAt(dirfd: number, path: PathLike, opts?: NameToHandleOptions): FileHandle & { mountId: number } {
  const buf = new Uint8Array(8 + MAX_HANDLE_SZ);
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAX_HANDLE_SZ, true);
  const mountId = new Int32Array(1);
  const p = cPath(path);
  const r = sysPtr(NR.name_to_handle_at, dirfd, p, buf, mountId, opts?.flags ?? 0);
  if (r === -1) throw fail(lastErrno(), 'name_to_handle_at', opts, { path: pathText(path), call: `name_to_handle_at(${dirfd}, ${JSON.stringify(pathText(path))})` });
  const length = view.getUint32(0, true);
  return { type: view.getInt32(4, true), bytes: buf.slice(8, 8 + length), mountId: mountId[0]! };
}

/** Options of openByHandleAt. */
export interface OpenByHandleOptions extends SysContext {
  /** Open flags (`O.PATH`, `O.RDONLY`, ...). */
  flags: number;
}

/**
 * `open_by_handle_at(mount_fd, handle, flags)` — opens the inode a handle names, on the filesystem
 * of `mountFd` (needs CAP_DAC_READ_SEARCH); returns the new fd.
 */
export function openByHandleAt(mountFd: number, handle: FileHandle, opts: OpenByHandleOptions): number {
  const buf = encodeHandle(handle);
  const r = sysPtr(NR.open_by_handle_at, mountFd, buf, opts.flags);
  if (r === -1) throw fail(lastErrno(), 'open_by_handle_at', opts, { call: `open_by_handle_at(${mountFd}, <handle type ${handle.type}>, ${opts.flags})` });
  keepAlive(buf);
  return Number(r);
}

/**
 * Files: open/openat, read/write and their positioned and vectored forms, lseek, close, fcntl,
 * dup, ftruncate and statx. Blocking calls are retried when a signal interrupts them (EINTR).
 */

import { AT, F, SEEK, STATX } from './constants_io.js';
import { type SysContext } from './error.js';
import { fail, keepAlive, lastErrno, retryEintr, sysInt, sysPtr } from './libc.js';
import { asBuffer, getBig, getNum } from './layout.js';
import { buildIovecs, STATX_STRUCT, STATX_TIMESTAMP, type IoVec } from './structs.js';
import { NR } from './syscalls.js';

/** A path as a string (UTF-8) or as raw bytes (no NUL inside). */
export type PathLike = string | Uint8Array;

/** A NUL-terminated copy of a path, and its text for error messages. */
export function cPath(path: PathLike): Buffer {
  const bytes = typeof path === 'string' ? Buffer.from(path, 'utf8') : path;
  if (bytes.includes(0)) throw new TypeError(`Path contains a NUL byte: ${JSON.stringify(pathText(path))}`);
  const out = Buffer.alloc(bytes.byteLength + 1);
  out.set(bytes);
  return out;
}

/** A path as text, for error messages. */
export function pathText(path: PathLike): string {
  return typeof path === 'string' ? path : Buffer.from(path).toString('utf8');
}

/** Options of open/openat. */
export interface OpenOptions extends SysContext {
  /** `O_*` flags; `O.RDONLY` when absent. */
  flags?: number;
  /** Permission bits for a created file; 0o600 when absent. */
  mode?: number;
}

/** `openat(AT_FDCWD, path, flags, mode)` — opens a file; returns the fd. */
export function open(path: PathLike, opts?: OpenOptions): number {
  return openat(AT.FDCWD, path, opts);
}

/** `openat(dirfd, path, flags, mode)` — opens a file relative to a directory fd; returns the fd. */
export function openat(dirfd: number, path: PathLike, opts?: OpenOptions): number {
  const flags = opts?.flags ?? 0;
  const mode = opts?.mode ?? 0o600;
  const p = cPath(path);
  const r = retryEintr(() => sysPtr(NR.openat, dirfd, p, flags, mode));
  if (r === -1) throw fail(lastErrno(), 'openat', opts, { path: pathText(path), call: `openat(${dirfd === AT.FDCWD ? 'AT_FDCWD' : dirfd}, ${JSON.stringify(pathText(path))}, 0o${flags.toString(8)})` });
  return Number(r);
}

/** `close(fd)` — closes a file descriptor. Not retried on EINTR (the fd is gone either way). */
export function close(fd: number, opts?: SysContext): void {
  const r = sysInt(NR.close, fd);
  if (r === -1) throw fail(lastErrno(), 'close', opts, { call: `close(${fd})` });
}

/** Options of read/write: how many bytes of the buffer to use (all of it by default). */
export interface IoOptions extends SysContext {
  length?: number;
}

/** `read(fd, buf, count)` — reads into `buf`; returns the number of bytes read (0 at end of file). */
export function read(fd: number, buf: ArrayBufferView, opts?: IoOptions): number {
  const len = opts?.length ?? buf.byteLength;
  const r = retryEintr(() => sysPtr(NR.read, fd, buf, len));
  if (r === -1) throw fail(lastErrno(), 'read', opts, { call: `read(${fd}, ${len})` });
  return Number(r);
}

/** `write(fd, buf, count)` — writes from `buf`; returns the number of bytes written. */
export function write(fd: number, buf: ArrayBufferView, opts?: IoOptions): number {
  const len = opts?.length ?? buf.byteLength;
  const r = retryEintr(() => sysPtr(NR.write, fd, buf, len));
  if (r === -1) throw fail(lastErrno(), 'write', opts, { call: `write(${fd}, ${len})` });
  return Number(r);
}

/** Options of the positioned calls. */
export interface PositionedOptions extends IoOptions {
  /** The file offset to read or write at. */
  offset: bigint | number;
}

/** `pread64(fd, buf, count, offset)` — reads at an offset without moving the file position. */
export function pread(fd: number, buf: ArrayBufferView, opts: PositionedOptions): number {
  const len = opts.length ?? buf.byteLength;
  const r = retryEintr(() => sysPtr(NR.pread64, fd, buf, len, opts.offset));
  if (r === -1) throw fail(lastErrno(), 'pread64', opts, { call: `pread64(${fd}, ${len}, ${opts.offset})` });
  return Number(r);
}

/** `pwrite64(fd, buf, count, offset)` — writes at an offset without moving the file position. */
export function pwrite(fd: number, buf: ArrayBufferView, opts: PositionedOptions): number {
  const len = opts.length ?? buf.byteLength;
  const r = retryEintr(() => sysPtr(NR.pwrite64, fd, buf, len, opts.offset));
  if (r === -1) throw fail(lastErrno(), 'pwrite64', opts, { call: `pwrite64(${fd}, ${len}, ${opts.offset})` });
  return Number(r);
}

/** `readv(fd, iov, iovcnt)` — reads into several buffers in order; returns the bytes read. */
export function readv(fd: number, iovs: readonly IoVec[], opts?: SysContext): number {
  const iov = buildIovecs(iovs);
  const r = retryEintr(() => sysPtr(NR.readv, fd, iov, iovs.length));
  if (r === -1) throw fail(lastErrno(), 'readv', opts, { call: `readv(${fd}, [${iovs.length} iovecs])` });
  keepAlive(iovs);
  return Number(r);
}

/** `writev(fd, iov, iovcnt)` — writes several buffers in order; returns the bytes written. */
export function writev(fd: number, iovs: readonly IoVec[], opts?: SysContext): number {
  const iov = buildIovecs(iovs);
  const r = retryEintr(() => sysPtr(NR.writev, fd, iov, iovs.length));
  if (r === -1) throw fail(lastErrno(), 'writev', opts, { call: `writev(${fd}, [${iovs.length} iovecs])` });
  keepAlive(iovs);
  return Number(r);
}

/** Options of preadv/pwritev. */
export interface VectoredOptions extends SysContext {
  offset: bigint | number;
}

/** `preadv(fd, iov, iovcnt, offset)` — a positioned readv; returns the bytes read. */
export function preadv(fd: number, iovs: readonly IoVec[], opts: VectoredOptions): number {
  const iov = buildIovecs(iovs);
  // On 64-bit kernels the offset travels whole in pos_l; pos_h is ignored.
  const r = retryEintr(() => sysPtr(NR.preadv, fd, iov, iovs.length, opts.offset, 0));
  if (r === -1) throw fail(lastErrno(), 'preadv', opts, { call: `preadv(${fd}, [${iovs.length} iovecs], ${opts.offset})` });
  keepAlive(iovs);
  return Number(r);
}

/** `pwritev(fd, iov, iovcnt, offset)` — a positioned writev; returns the bytes written. */
export function pwritev(fd: number, iovs: readonly IoVec[], opts: VectoredOptions): number {
  const iov = buildIovecs(iovs);
  const r = retryEintr(() => sysPtr(NR.pwritev, fd, iov, iovs.length, opts.offset, 0));
  if (r === -1) throw fail(lastErrno(), 'pwritev', opts, { call: `pwritev(${fd}, [${iovs.length} iovecs], ${opts.offset})` });
  keepAlive(iovs);
  return Number(r);
}

/** Options of lseek. */
export interface LseekOptions extends SysContext {
  /** `SEEK_*`; `SEEK.SET` when absent. */
  whence?: number;
}

/** `lseek(fd, offset, whence)` — moves the file position; returns the new position. */
export function lseek(fd: number, offset: bigint | number, opts?: LseekOptions): bigint {
  const whence = opts?.whence ?? SEEK.SET;
  const r = sysInt(NR.lseek, fd, offset, whence);
  if (r === -1) throw fail(lastErrno(), 'lseek', opts, { call: `lseek(${fd}, ${offset}, ${whence})` });
  return BigInt(r);
}

/** `ftruncate(fd, length)` — sets a file's size. */
export function ftruncate(fd: number, length: bigint | number, opts?: SysContext): void {
  const r = retryEintr(() => sysInt(NR.ftruncate, fd, length));
  if (r === -1) throw fail(lastErrno(), 'ftruncate', opts, { call: `ftruncate(${fd}, ${length})` });
}

/** Options of fcntl. */
export interface FcntlOptions extends SysContext {
  /** The command's integer argument (0 when absent). */
  arg?: number | bigint;
}

/** `fcntl(fd, cmd, arg)` — an integer fcntl command (`F.GETFL`, `F.SETPIPE_SZ`, ...); returns its result. */
export function fcntl(fd: number, cmd: number, opts?: FcntlOptions): number {
  const arg = opts?.arg ?? 0;
  const r = sysInt(NR.fcntl, fd, cmd, arg);
  if (r === -1) throw fail(lastErrno(), 'fcntl', opts, { call: `fcntl(${fd}, ${fcntlName(cmd)}, ${arg})` });
  return Number(r);
}

function fcntlName(cmd: number): string {
  for (const [name, value] of Object.entries(F)) if (value === cmd) return `F_${name}`;
  return String(cmd);
}

/** `dup(fd)` — a new descriptor for the same open file. */
export function dup(fd: number, opts?: SysContext): number {
  const r = sysInt(NR.dup, fd);
  if (r === -1) throw fail(lastErrno(), 'dup', opts, { call: `dup(${fd})` });
  return Number(r);
}

/** Options of dup3. */
export interface Dup3Options extends SysContext {
  /** `O.CLOEXEC` or 0. */
  flags?: number;
}

/** `dup3(oldfd, newfd, flags)` — makes `newfd` refer to the same open file as `oldfd`. */
export function dup3(oldfd: number, newfd: number, opts?: Dup3Options): number {
  const flags = opts?.flags ?? 0;
  const r = retryEintr(() => sysInt(NR.dup3, oldfd, newfd, flags));
  if (r === -1) throw fail(lastErrno(), 'dup3', opts, { call: `dup3(${oldfd}, ${newfd}, ${flags})` });
  return Number(r);
}

/** What statx tells about a file. Device numbers come both split and encoded as glibc's `makedev`. */
export interface Stat {
  /** `STATX_*` bits of the fields the kernel filled. */
  mask: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  blksize: number;
  devMajor: number;
  devMinor: number;
  /** `st_dev` as stat(2) reports it (glibc's `makedev(major, minor)`). */
  dev: bigint;
  rdevMajor: number;
  rdevMinor: number;
  /** `st_rdev` as stat(2) reports it. */
  rdev: bigint;
  mntId: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** Options of statx. */
export interface StatxOptions extends SysContext {
  /** `AT_*` flags (`AT.SYMLINK_NOFOLLOW`, `AT.EMPTY_PATH`, ...). */
  flags?: number;
  /** `STATX_*` fields wanted; basic stats and the mount id when absent. */
  mask?: number;
}

/** `statx(dirfd, path, flags, mask, buf)` — file status relative to a directory fd. */
export function statx(dirfd: number, path: PathLike, opts?: StatxOptions): Stat {
  const flags = opts?.flags ?? 0;
  const mask = opts?.mask ?? STATX.BASIC_STATS | STATX.MNT_ID;
  const buf = Buffer.alloc(STATX_STRUCT.size);
  const p = cPath(path);
  const r = sysPtr(NR.statx, dirfd, p, flags, mask, buf);
  if (r === -1) throw fail(lastErrno(), 'statx', opts, { path: pathText(path), call: `statx(${dirfd}, ${JSON.stringify(pathText(path))})` });
  return decodeStatx(buf);
}

/** `statx(fd, "", AT_EMPTY_PATH, ...)` — the status of an open file (fstat). */
export function fstat(fd: number, opts?: StatxOptions): Stat {
  const buf = Buffer.alloc(STATX_STRUCT.size);
  const mask = opts?.mask ?? STATX.BASIC_STATS | STATX.MNT_ID;
  const r = sysPtr(NR.statx, fd, EMPTY_PATH, (opts?.flags ?? 0) | AT.EMPTY_PATH, mask, buf);
  if (r === -1) throw fail(lastErrno(), 'statx', opts, { call: `fstat(${fd})` });
  return decodeStatx(buf);
}

const EMPTY_PATH = Buffer.alloc(1);

/** glibc's `makedev()`: the `st_dev`/`st_rdev` encoding of a major and minor number. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

function timestampNs(buf: Buffer, offset: number): bigint {
  const sec = getBig(buf, STATX_TIMESTAMP, 'tv_sec', offset);
  const nsec = getBig(buf, STATX_TIMESTAMP, 'tv_nsec', offset);
  return sec * 1_000_000_000n + nsec;
}

function decodeStatx(view: ArrayBufferView): Stat {
  const b = asBuffer(view);
  const L = STATX_STRUCT;
  const devMajor = getNum(b, L, 'stx_dev_major');
  const devMinor = getNum(b, L, 'stx_dev_minor');
  const rdevMajor = getNum(b, L, 'stx_rdev_major');
  const rdevMinor = getNum(b, L, 'stx_rdev_minor');
  return {
    mask: getNum(b, L, 'stx_mask'),
    mode: getNum(b, L, 'stx_mode'),
    nlink: getNum(b, L, 'stx_nlink'),
    uid: getNum(b, L, 'stx_uid'),
    gid: getNum(b, L, 'stx_gid'),
    ino: getBig(b, L, 'stx_ino'),
    size: getBig(b, L, 'stx_size'),
    blocks: getBig(b, L, 'stx_blocks'),
    blksize: getNum(b, L, 'stx_blksize'),
    devMajor,
    devMinor,
    dev: makedev(devMajor, devMinor),
    rdevMajor,
    rdevMinor,
    rdev: makedev(rdevMajor, rdevMinor),
    mntId: getBig(b, L, 'stx_mnt_id'),
    atimeNs: timestampNs(b, L.fields.stx_atime.offset),
    mtimeNs: timestampNs(b, L.fields.stx_mtime.offset),
    ctimeNs: timestampNs(b, L.fields.stx_ctime.offset),
  };
}

/**
 * The names of Unix sockets on restore, done as CRIU does them: an abstract name is bound as it
 * is; a path name is bound in the directory it was bound in (`name_dir`, for a relative name),
 * after a stale socket file left at the path is unlinked (a file of any other kind is left alone,
 * and the bind then fails); the socket file gets its owner and mode back (`file_perms`). A socket
 * whose file was deleted since is bound at its path, kept reachable through an `O_PATH` fd, and
 * its file unlinked again (whatever was at the path is moved aside meanwhile and put back).
 * Peers connect to a name the same way, or through `/proc/self/fd/N` to a deleted one.
 */
import { chownSync, chmodSync, existsSync, lstatSync, mkdirSync, renameSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { UnixSkEntry } from '../../images/generated/types.js';
import { AF, O, bind, connect, open, type SockAddr } from '../../sys/index.js';

/** A Unix socket name as the image has it. */
export type UnixName =
  | { kind: 'none' }
  | { kind: 'abstract'; bytes: Uint8Array }
  /** `path` is the name up to its first NUL; `dir` the directory a relative name is bound in. */
  | { kind: 'path'; bytes: Uint8Array; path: string; dir: string | undefined };

/** The name of `usk`; a relative path without its `name_dir` is refused (throws). */
export function unixName(usk: UnixSkEntry): UnixName {
  const bytes = usk.name;
  if (bytes.length === 0) return { kind: 'none' };
  if (bytes[0] === 0) return { kind: 'abstract', bytes };
  const nul = bytes.indexOf(0);
  const path = Buffer.from(bytes.subarray(0, nul < 0 ? bytes.length : nul)).toString('utf8');
  if (!path.startsWith('/') && usk.name_dir === undefined) throw new Error(`its name ${path} is relative and the image does not say in which directory it was bound`);
  return { kind: 'path', bytes, path, dir: path.startsWith('/') ? undefined : usk.name_dir };
}

/** How a name reads in messages: `@name` (abstract), the path (with its directory), or `unnamed`. */
export function describeName(name: UnixName): string {
  switch (name.kind) {
    case 'none':
      return 'unnamed';
    case 'abstract':
      return `@${Buffer.from(name.bytes.subarray(1)).toString('utf8').replace(/\0/g, '@')}`;
    case 'path':
      return name.dir === undefined ? name.path : `${name.path} in ${name.dir}`;
  }
}

/** The exact address bytes of the image (`sun_family` + the name as recorded, NULs included). */
function address(bytes: Uint8Array): SockAddr {
  const raw = Buffer.alloc(2 + bytes.length);
  raw.set(bytes, 2);
  return { family: 'raw', af: AF.UNIX, bytes: raw };
}

/** Runs `fn` with the working directory at `dir` (a relative name's), and back after. */
function inDir<T>(dir: string | undefined, fn: () => T): T {
  if (dir === undefined) return fn();
  const before = process.cwd();
  process.chdir(dir);
  try {
    return fn();
  } finally {
    process.chdir(before);
  }
}

/** What binding left for later: the O_PATH fd of a deleted socket's file, for its peers. */
export interface BoundName {
  /** `/proc/self/fd/N` of an O_PATH fd of the socket's (now unlinked) file; peers connect there. */
  deletedVia?: string;
  /** A path the bind created (to unlink if the restore fails before its tasks exist). */
  created?: string;
}

/**
 * `bind(fd, name)`: a stale socket file at the path is unlinked first, a file of another kind is
 * not (and the bind fails with EADDRINUSE: the caller says what is in the way). A deleted name is
 * bound then unlinked again ({@link bindDeleted}). `opened` collects the O_PATH fds kept.
 */
export function bindUnixName(fd: number, usk: UnixSkEntry, name: UnixName, opened: number[]): BoundName {
  if (name.kind === 'none') return {};
  if (name.kind === 'abstract') {
    bind(fd, address(name.bytes));
    return {};
  }
  return inDir(name.dir, () => {
    if (usk.deleted === true) return bindDeleted(fd, usk, name, opened);
    removeStaleSocket(name.path);
    bind(fd, address(name.bytes));
    restorePerms(usk, name.path);
    return { created: absolute(name) };
  });
}

/** What occupies `path` when it is not a socket we may unlink (for error messages); undefined if nothing. */
export function occupant(name: UnixName): string | undefined {
  if (name.kind !== 'path') return undefined;
  return inDir(name.dir, () => {
    try {
      const st = lstatSync(name.path);
      return st.isSocket() ? undefined : st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : st.isSymbolicLink() ? 'a symbolic link' : 'a file that is not a socket';
    } catch {
      return undefined;
    }
  });
}

/** `unlink(path)` when it is a socket file (CRIU's unlink_sk: never another kind of file). */
function removeStaleSocket(path: string): void {
  try {
    if (!lstatSync(path).isSocket()) return;
  } catch {
    return; // nothing there
  }
  unlinkSync(path);
}

/** `fchownat` + `fchmodat` of the socket file, as the image recorded them. */
function restorePerms(usk: UnixSkEntry, path: string): void {
  const perms = usk.file_perms;
  if (perms === undefined) return;
  chownSync(path, perms.uid, perms.gid);
  chmodSync(path, perms.mode & 0o7777);
}

const PARKED = '.criu-ts-sk-ghost';

/**
 * A socket bound to a file that was deleted: its missing directories made, whatever is at the
 * path moved aside, `bind`, perms, an `O_PATH` fd kept (peers connect through it), the file
 * unlinked, the moved file put back and the made directories removed.
 */
function bindDeleted(fd: number, usk: UnixSkEntry, name: UnixName & { kind: 'path' }, opened: number[]): BoundName {
  const path = name.path;
  const made: string[] = [];
  for (let dir = dirname(path); !existsSync(dir); dir = dirname(dir)) made.unshift(dir);
  for (const dir of made) mkdirSync(dir, { mode: 0o755 });
  let parked = false;
  try {
    try {
      lstatSync(path);
      renameSync(path, path + PARKED);
      parked = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    bind(fd, address(name.bytes));
    try {
      restorePerms(usk, path);
      const keep = open(path, { flags: O.PATH | O.CLOEXEC, what: `keep the deleted socket file ${path}` });
      opened.push(keep);
      return { deletedVia: `/proc/self/fd/${keep}` };
    } finally {
      unlinkSync(path);
    }
  } finally {
    if (parked) renameSync(path + PARKED, path);
    for (const dir of made.reverse()) rmdirSync(dir);
  }
}

/** `connect(fd, peer's name)`: through the peer's kept fd when its file was deleted. */
export function connectUnixName(fd: number, peer: UnixName, bound: BoundName | undefined): void {
  if (bound?.deletedVia !== undefined) {
    connect(fd, { family: 'unix', path: bound.deletedVia });
    return;
  }
  if (peer.kind === 'none') throw new Error('its peer has no name to connect to');
  inDir(peer.kind === 'path' ? peer.dir : undefined, () => connect(fd, address(peer.bytes)));
}

function absolute(name: UnixName & { kind: 'path' }): string {
  return name.dir === undefined ? name.path : `${name.dir.replace(/\/$/, '')}/${name.path}`;
}

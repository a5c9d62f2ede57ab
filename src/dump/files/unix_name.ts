/**
 * What CRIU records about the file a Unix socket is bound to (a path name; abstract names have no
 * file): its mode and owner (file_perms), whether it was unlinked since (deleted), and, for a
 * relative name, the directory it was bound in (name_dir). The file is reached through
 * `ioctl(SIOCUNIXFILE)`, which opens it `O_PATH` from the socket itself.
 */
import { readlinkSync } from 'node:fs';
import type { FilePermsEntry } from '../../images/generated/types.js';
import { NET } from '../../net/constants.js';
import { close, fstat, syscall } from '../../sys/index.js';

export interface UnixNameFacts {
  file_perms?: FilePermsEntry;
  name_dir?: string;
  deleted?: boolean;
}

const DELETED = Buffer.from(' (deleted)');

/**
 * Facts about the file behind `name` (the address as sock_diag gives it) of socket `fd`; nothing
 * for an unbound or abstract socket. Throws when a relative name does not end the file's path.
 */
export function resolveUnixName(fd: number, name: Buffer | undefined): UnixNameFacts {
  if (name === undefined || name.length === 0 || name[0] === 0) return {};
  const nul = name.indexOf(0);
  const bound = nul < 0 ? name : name.subarray(0, nul);
  const file = Number(syscall('ioctl', fd, NET.SIOCUNIXFILE, 0));
  let mode: number;
  let uid: number;
  let gid: number;
  let path: Buffer;
  try {
    ({ mode, uid, gid } = fstat(file));
    path = readlinkSync(`/proc/self/fd/${file}`, { encoding: 'buffer' });
  } finally {
    close(file);
  }
  const out: UnixNameFacts = { file_perms: { mode, uid, gid } };
  if (path.length > DELETED.length && path.subarray(path.length - DELETED.length).equals(DELETED)) {
    path = path.subarray(0, path.length - DELETED.length);
    out.deleted = true;
  }
  if (bound[0] !== 0x2f /* '/' */) {
    const cut = path.length - bound.length - 1;
    if (cut < 0 || path[cut] !== 0x2f || !path.subarray(cut + 1).equals(bound)) {
      throw new Error(`the socket file ${path.toString()} does not end with the relative name ${bound.toString()} it was bound to`);
    }
    out.name_dir = cut === 0 ? '/' : path.subarray(0, cut).toString('utf8');
  }
  return out;
}

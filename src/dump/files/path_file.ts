/**
 * The reg_file_entry of an fd opened through a path (a regular file, a fifo, a terminal), with
 * what CRIU's check_path_remap() decides about deleted files: a file deleted while open (nlink 0)
 * keeps the name it had (without " (deleted)") and travels as a ghost; a deleted name whose inode
 * still has other links would need a link remap (`--link-remap`), which criu-ts does not make.
 */
import { statSync } from 'node:fs';
import { dumpGhost } from './ghost.js';
import { FdDumpError, type FdDumpContext, type FdFacts, type FdKindHandler } from './kind.js';
import { regFileEntry } from './reg.js';

const DELETED = ' (deleted)';
const S_IFMT = 0o170000n;

/**
 * Regular files, directories and device nodes whose name was deleted (`... (deleted)`): before
 * REG_KIND in the registry. Deleted fifos and terminals go through their own kinds.
 */
export const DELETED_FILE_KIND: FdKindHandler = {
  kind: 'REG',
  matches: (link, stat) => link.startsWith('/') && link.endsWith(DELETED) && [0o100000n, 0o040000n, 0o020000n, 0o060000n].includes(stat.mode & S_IFMT),
  dump: (f, ctx) => addPathFile(f, ctx),
};

/** The path of a /proc fd link without the " (deleted)" the kernel appends to unlinked names. */
export function stripDeleted(link: string): string {
  return link.endsWith(DELETED) ? link.slice(0, -DELETED.length) : link;
}

/**
 * Registers the path-based file behind `f` as a REG entry; returns its id. `ghosts: false`
 * (devpts) drops a " (deleted)" suffix without a ghost: those nodes are the kernel's own.
 */
export function addPathFile(f: FdFacts, ctx: FdDumpContext, opts: { ghosts?: boolean } = {}): number {
  const add = (path: string) =>
    ctx.files.add('REG', (id) => ({
      reg: regFileEntry(id, { path, stat: f.stat, flags: f.flags, pos: f.info.pos, fown: f.fown, openPath: f.procPath }),
    }));
  if (!f.link.endsWith(DELETED)) return add(f.link);
  if (opts.ghosts === false) return add(stripDeleted(f.link));
  if (f.stat.nlink === 0n) {
    const id = add(stripDeleted(f.link));
    dumpGhost(f, ctx, id);
    return id;
  }
  // Linked: either a live file whose name really ends in " (deleted)", or an unlinked name of an
  // inode that lives on under another name.
  if (sameInode(f.link, f)) return add(f.link);
  throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `${f.link} was unlinked but its inode has other links (link remaps are not supported)`);
}

function sameInode(path: string, f: FdFacts): boolean {
  try {
    const st = statSync(`/proc/${f.pid}/root${path}`, { bigint: true });
    return st.dev === f.stat.dev && st.ino === f.stat.ino;
  } catch {
    return false;
  }
}

/**
 * memfd (`/memfd:NAME (deleted)` on the kernel's shmem device): a memfd_file_entry per open file
 * (flags, position, owner) pointing at a memfd_inode_entry in memfd.img (name, owner, size, mode,
 * seals), once per inode. The contents are dumped as shared memory with the inode number as
 * shmid (pagemap-shmem-SHMID.img and a pages image), like CRIU's dump_one_memfd_shmem(): a memfd
 * also mapped MAP_SHARED by a task was already dumped with its mapping and is not dumped twice.
 * memfds on hugetlbfs (MFD_HUGETLB) are refused.
 */
import type { MemfdInodeEntry } from '../../images/generated/types.js';
import { writePagemap } from '../../images/typed.js';
import { F, O, close, fcntl, open } from '../../sys/index.js';
import { dumpShmemSegment } from '../shmem.js';
import { anonSharedDevice } from '../vmas.js';
import { FdDumpError, unsupportedKind, type FdDumpContext, type FdFacts, type FdKindHandler } from './kind.js';
import { stripDeleted } from './path_file.js';

const PREFIX = '/memfd:';

/** memfd inode ids by inode number, per dump (numbered from 1 in the order met, as CRIU does). */
const inodes = new WeakMap<FdDumpContext, Map<bigint, number>>();

export const MEMFD_KIND: FdKindHandler = {
  kind: 'MEMFD',
  matches: (link, stat) => link.startsWith(PREFIX) && stat.dev === anonSharedDevice(),
  dump(f, ctx) {
    const inodeId = memfdInode(f, ctx);
    return ctx.files.add('MEMFD', (id) => ({ memfd: { id, flags: f.flags, pos: f.info.pos, fown: f.fown, inode_id: inodeId } }));
  },
};

/** A memfd that is not on the shmem device: a hugetlbfs one. */
export const HUGETLB_MEMFD_KIND = unsupportedKind('MEMFD', (link) => link.startsWith(PREFIX), (link) => `memfd ${link} is on hugetlbfs (MFD_HUGETLB memfds are not supported)`);

function memfdInode(f: FdFacts, ctx: FdDumpContext): number {
  const known = inodes.get(ctx) ?? new Map<bigint, number>();
  inodes.set(ctx, known);
  const found = known.get(f.stat.ino);
  if (found !== undefined) return found;
  const inodeId = known.size + 1;
  const shmid = Number(f.stat.ino & 0xffffffffn); // a u32 in the image, as CRIU truncates it
  const entry: MemfdInodeEntry = {
    name: stripDeleted(f.link).slice(PREFIX.length),
    uid: Number(f.stat.uid),
    gid: Number(f.stat.gid),
    size: f.stat.size,
    shmid,
    seals: fcntl(f.local, F.GET_SEALS, { what: `read the seals of memfd fd ${f.fd} of task ${f.pid}` }),
    inode_id: BigInt(inodeId),
    mode: Number(f.stat.mode),
  };
  dumpContents(f, ctx, BigInt(shmid));
  const entries = ctx.extra.get('memfd') ?? [];
  entries.push(entry);
  ctx.extra.set('memfd', entries);
  known.set(f.stat.ino, inodeId);
  return inodeId;
}

function dumpContents(f: FdFacts, ctx: FdDumpContext, shmid: bigint): void {
  const { writer, shmem } = ctx.options;
  if (f.stat.size === 0n || shmem?.done.has(shmid)) return; // empty, or dumped with a mapping of it
  if (!writer || !shmem) throw new FdDumpError('FD_FAILED', f.pid, f.fd, `memfd ${f.link} needs an images directory to carry its contents`);
  // Opened again read-only: the task's own fd may be write-only.
  const fd = open(`/proc/self/fd/${f.local}`, { flags: O.RDONLY | O.CLOEXEC, what: `read memfd fd ${f.fd} of task ${f.pid}` });
  try {
    writePagemap(writer, shmid, dumpShmemSegment(fd, shmid, writer, shmem), 'shmemPagemap');
  } finally {
    close(fd);
  }
}

/**
 * memfds: each inode of memfd.img made again once (`memfd_create(name, MFD_ALLOW_SEALING)`,
 * `ftruncate` to its size, its pages copied from its pages image at their offsets, its mode, then
 * its seals, F_SEAL_SEAL included when the original could not be sealed); each open file of it is
 * a new description opened through /proc/self/fd at its flags and position, as the dump found it.
 */
import { closeSync, fchmodSync, openSync, readSync } from 'node:fs';
import { F, MFD, O, SEEK, fcntl, lseek, memfdCreate, open, pwrite, syscall } from '../../sys/index.js';
import type { FileKindOpener, OpenContext } from './kind.js';

const CHUNK = 1 << 20;

export const MEMFD_OPENER: FileKindOpener = {
  kind: 'MEMFD',
  open(entry, ctx) {
    const m = entry.memfd!;
    const inode = inodeFd(m.inode_id, ctx);
    const fd = open(`/proc/self/fd/${inode}`, { flags: (m.flags & ~(O.CREAT | O.TRUNC | O.EXCL)) | O.CLOEXEC, what: `open memfd file ${m.id}` });
    ctx.opened.push(fd);
    if (m.pos !== 0n) lseek(fd, m.pos, { whence: SEEK.SET, what: `seek memfd file ${m.id} to ${m.pos}` });
    return fd;
  },
};

function inodeFd(inodeId: number, ctx: OpenContext): number {
  const known = ctx.memfds.get(inodeId);
  if (known !== undefined) return known;
  const m = ctx.plan.memfds.get(inodeId)!;
  const fd = memfdCreate(m.name, { flags: MFD.CLOEXEC | MFD.ALLOW_SEALING, what: `create memfd ${m.name}` });
  ctx.opened.push(fd);
  ctx.memfds.set(inodeId, fd);
  syscall('ftruncate', fd, m.size);
  const pages = ctx.plan.shmem.get(BigInt(m.shmid));
  if (pages !== undefined) {
    const src = openSync(pages.file, 'r');
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (const run of pages.runs) {
        for (let done = 0n; done < run.len; ) {
          const len = Number(run.len - done > BigInt(CHUNK) ? BigInt(CHUNK) : run.len - done);
          const got = readSync(src, buf, 0, len, Number(run.offset + done));
          // The last page of a memfd may run past its size: what is beyond it is not written.
          const room = m.size - (run.addr + done);
          const n = room < BigInt(got) ? Number(room > 0n ? room : 0n) : got;
          if (n > 0) pwrite(fd, buf.subarray(0, n), { offset: run.addr + done, what: `fill memfd ${m.name}` });
          done += BigInt(got);
          if (got === 0) break;
        }
      }
    } finally {
      closeSync(src);
    }
  }
  if (m.mode !== undefined) fchmodSync(fd, m.mode & 0o7777);
  if (m.seals !== 0) fcntl(fd, F.ADD_SEALS, { arg: m.seals, what: `seal memfd ${m.name}` });
  return fd;
}

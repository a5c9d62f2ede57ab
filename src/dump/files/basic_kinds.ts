/** The fd kinds that need nothing but /proc and the fd itself: regular files, pipes, eventfds. */
import { FdDumpError, type FdKindHandler } from './kind.js';
import { peekPipe } from './pipe.js';
import { regFileEntry } from './reg.js';

const S_IFMT = 0o170000n;

/** Regular files, directories and devices opened as files. */
export const REG_KIND: FdKindHandler = {
  kind: 'REG',
  matches: (link, stat) => link.startsWith('/') && [0o100000n, 0o040000n, 0o020000n, 0o060000n].includes(stat.mode & S_IFMT),
  dump(f, ctx) {
    return ctx.files.add('REG', (id) => ({
      reg: regFileEntry(id, { path: f.link, stat: f.stat, flags: f.flags, pos: f.info.pos, fown: f.fown, openPath: f.procPath }),
    }));
  },
};

/** Anonymous pipes (pipe_id is the pipe's inode); their buffered bytes go to pipes-data.img. */
export const PIPE_KIND: FdKindHandler = {
  kind: 'PIPE',
  matches: (link) => link.startsWith('pipe:['),
  dump(f, ctx) {
    const pipeId = Number(f.stat.ino);
    const id = ctx.files.add('PIPE', (fid) => ({ pipe: { id: fid, pipe_id: pipeId, flags: f.flags, fown: f.fown } }));
    if (!ctx.pipesPeeked.has(pipeId)) {
      ctx.pipesPeeked.add(pipeId);
      const data = peekPipe(f.pid, f.fd, pipeId);
      if (data) ctx.pipeData.push(data);
    }
    return id;
  },
};

/** eventfd: its counter is in fdinfo (hexadecimal). */
export const EVENTFD_KIND: FdKindHandler = {
  kind: 'EVENTFD',
  matches: (link) => link === 'anon_inode:[eventfd]',
  dump(f, ctx) {
    const count = f.info.extra.find(([key]) => key === 'eventfd-count')?.[1];
    if (count === undefined) throw new FdDumpError('FD_FAILED', f.pid, f.fd, 'eventfd without a count in fdinfo');
    return ctx.files.add('EVENTFD', (id) => ({ efd: { id, flags: f.flags, fown: f.fown, counter: BigInt('0x' + count.trim()) } }));
  },
};

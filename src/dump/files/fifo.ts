/**
 * Named pipes (a path whose inode is a fifo): a fifo_entry (pipe_id is the fifo's inode) that
 * points at a reg_file_entry of the path it was opened through, as CRIU does it, and the bytes
 * still buffered in the fifo (fifo-data.img, copied with tee so the task keeps them), once per
 * fifo however many ends are open.
 */
import type { FdDumpContext, FdKindHandler } from './kind.js';
import { addPathFile } from './path_file.js';
import { peekPipe } from './pipe.js';

const S_IFMT = 0o170000n;
const S_IFIFO = 0o010000n;

/** Fifos whose data was already taken, per dump. */
const peeked = new WeakMap<FdDumpContext, Set<number>>();

export const FIFO_KIND: FdKindHandler = {
  kind: 'FIFO',
  matches: (link, stat) => link.startsWith('/') && (stat.mode & S_IFMT) === S_IFIFO,
  dump(f, ctx) {
    const regfId = addPathFile(f, ctx);
    const pipeId = Number(f.stat.ino & 0xffffffffn); // a u32 in the image, as CRIU truncates it
    const id = ctx.files.add('FIFO', (fid) => ({ fifo: { id: fid, pipe_id: pipeId, regf_id: regfId } }));
    const done = peeked.get(ctx) ?? new Set<number>();
    peeked.set(ctx, done);
    if (!done.has(pipeId)) {
      done.add(pipeId);
      const data = peekPipe(f.pid, f.fd, pipeId);
      if (data) {
        const entries = ctx.extra.get('fifoData') ?? [];
        entries.push({ entry: data.entry, extra: data.data });
        ctx.extra.set('fifoData', entries);
      }
    }
    return id;
  },
};

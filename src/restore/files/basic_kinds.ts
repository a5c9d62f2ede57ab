/** Openers of the fd kinds that need only the driver: regular files, pipes, eventfds. */
import { F, O, SEEK, close, fcntl, isSysError, lseek, open, pipe2, setPipeSize, syscall, write } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { FileKindOpener, OpenContext } from './kind.js';

/** Flags open() would refuse or act on again (creating, truncating): never passed back. */
const STRIP = O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY;

/** `open(name, flags)` and `lseek(fd, pos)`: a regular file (or device, or directory) at its flags and position. */
export const REG_OPENER: FileKindOpener = {
  kind: 'REG',
  open(entry, ctx) {
    const reg = entry.reg!;
    const fd = open(reg.name, { flags: (reg.flags & ~STRIP) | O.CLOEXEC, what: `open ${reg.name} (file ${reg.id})` });
    ctx.opened.push(fd);
    if (reg.pos !== 0n) {
      try {
        lseek(fd, reg.pos, { whence: SEEK.SET, what: `seek ${reg.name} to ${reg.pos}` });
      } catch (err) {
        if (!isSysError(err, 'ESPIPE')) throw err;
      }
    }
    return fd;
  },
};

/**
 * `pipe2()` once per pipe_id, its buffered bytes written back (`F_SETPIPE_SZ` first when they need
 * more room), each end with its status flags (`F_SETFL`). A second description of the same end (a
 * reopen through /proc) is opened again through /proc/self/fd.
 */
export const PIPE_OPENER: FileKindOpener = {
  kind: 'PIPE',
  open(entry, ctx) {
    const p = entry.pipe!;
    let ends = ctx.pipes.get(p.pipe_id);
    if (ends === undefined) {
      ends = pipe2({ flags: O.CLOEXEC | O.NONBLOCK, what: `create pipe ${p.pipe_id}` });
      ctx.opened.push(ends[0], ends[1]);
      ctx.pipes.set(p.pipe_id, ends);
      fillPipe(ctx, p.pipe_id, ends);
    }
    const access = p.flags & 3;
    const end = access === O.WRONLY ? ends[1] : ends[0];
    const key = `${p.pipe_id}:${access}`;
    let fd = end;
    if (ctx.pipeEnds.has(key)) {
      fd = open(`/proc/self/fd/${end}`, { flags: access | O.CLOEXEC, what: `reopen pipe ${p.pipe_id}` });
      ctx.opened.push(fd);
    }
    ctx.pipeEnds.add(key);
    fcntl(fd, F.SETFL, { arg: p.flags & ~3 & ~O.CLOEXEC, what: `set the flags of pipe ${p.pipe_id}` });
    return fd;
  },
};

function fillPipe(ctx: OpenContext, pipeId: number, [, w]: [number, number]): void {
  const data = ctx.plan.pipeData.get(pipeId);
  if (data === undefined || data.byteLength === 0) return;
  if (data.byteLength > 65536) setPipeSize(w, data.byteLength, { what: `grow pipe ${pipeId}` });
  for (let done = 0; done < data.byteLength; ) {
    try {
      done += write(w, data.subarray(done), { what: `refill pipe ${pipeId}` });
    } catch (err) {
      if (isSysError(err, 'EAGAIN')) throw new RestoreError('RESTORE_FAILED', `Pipe ${pipeId}: ${data.byteLength} bytes of data do not fit in it`, { image: 'pipes-data.img', cause: err });
      throw err;
    }
  }
}

const EFD = { NONBLOCK: O.NONBLOCK, CLOEXEC: O.CLOEXEC };

/** `eventfd2(0, flags)` and its counter written back. */
export const EVENTFD_OPENER: FileKindOpener = {
  kind: 'EVENTFD',
  open(entry, ctx) {
    const e = entry.efd!;
    const fd = Number(syscall('eventfd2', 0, EFD.CLOEXEC | (e.flags & EFD.NONBLOCK)));
    ctx.opened.push(fd);
    if (e.counter !== 0n) write(fd, new Uint8Array(BigUint64Array.of(e.counter).buffer), { what: `set the counter of eventfd ${e.id}` });
    return fd;
  },
};

/** Closes every fd the openers made. */
export function closeOpened(ctx: OpenContext): void {
  for (const fd of ctx.opened.splice(0)) {
    try {
      close(fd);
    } catch {
      // already closed
    }
  }
}

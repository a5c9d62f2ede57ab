/**
 * Named pipes: the fifo is opened once `O_RDWR | O_NONBLOCK` (never blocks, and keeps it alive
 * with its buffered bytes from fifo-data.img written back), then each open file of it is opened by
 * its path with its own access mode without blocking (`O_NONBLOCK`, cleared again with `F_SETFL`
 * when the image has it clear), as CRIU does.
 */
import { F, O, fcntl, isSysError, open, setPipeSize, write } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { FileKindOpener } from './kind.js';

export const FIFO_OPENER: FileKindOpener = {
  kind: 'FIFO',
  open(entry, ctx) {
    const fifo = entry.fifo!;
    const reg = ctx.plan.files.get(fifo.regf_id!)!.reg!;
    if (!ctx.fifos.has(fifo.pipe_id)) {
      const keeper = open(reg.name, { flags: O.RDWR | O.NONBLOCK | O.CLOEXEC, what: `open the fifo ${reg.name}` });
      ctx.opened.push(keeper);
      ctx.fifos.set(fifo.pipe_id, keeper);
      const data = ctx.plan.fifoData.get(fifo.pipe_id);
      if (data !== undefined && data.byteLength > 0) {
        if (data.byteLength > 65536) setPipeSize(keeper, data.byteLength, { what: `grow the fifo ${reg.name}` });
        for (let done = 0; done < data.byteLength; ) {
          try {
            done += write(keeper, data.subarray(done), { what: `refill the fifo ${reg.name}` });
          } catch (err) {
            if (isSysError(err, 'EAGAIN')) throw new RestoreError('RESTORE_FAILED', `Fifo ${reg.name}: ${data.byteLength} bytes of data do not fit in it`, { image: 'fifo-data.img', cause: err });
            throw err;
          }
        }
      }
    }
    const fd = open(reg.name, { flags: (reg.flags & ~(O.CREAT | O.TRUNC | O.EXCL)) | O.NONBLOCK | O.CLOEXEC, what: `open the fifo ${reg.name} (file ${entry.id})` });
    ctx.opened.push(fd);
    if ((reg.flags & O.NONBLOCK) === 0) fcntl(fd, F.SETFL, { arg: reg.flags & ~3 & ~O.NONBLOCK & ~O.CLOEXEC, what: `set the flags of the fifo ${reg.name}` });
    return fd;
  },
};

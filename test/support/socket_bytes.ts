// Byte helpers of the TCP repair tests: a recognisable stream and a send that never blocks.
import { isSysError, MSG, sendmsg } from '../../src/sys/index.js';

/** `length` bytes of a pattern that `tag` tells apart from other streams. */
export function pattern(tag: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 31 + tag) & 0xff));
}

/** Sends what the socket buffers take now, without blocking; returns how much. */
export function sendSome(fd: number, data: Buffer): number {
  let off = 0;
  while (off < data.length) {
    try {
      off += sendmsg(fd, { data: data.subarray(off) }, { flags: MSG.DONTWAIT | MSG.NOSIGNAL });
    } catch (err) {
      if (isSysError(err, 'EAGAIN')) break; // buffers full: the rest is for later
      throw err;
    }
  }
  return off;
}

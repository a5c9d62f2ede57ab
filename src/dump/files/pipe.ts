/**
 * Pipes: a pipe_entry per open end (pipe_id is the pipe's inode), and the bytes still buffered in
 * each pipe, copied with tee() so the task keeps them (pipes-data.img).
 */
import type { PipeDataEntry } from '../../images/generated/types.js';
import { O, SPLICE_F, close, getPipeSize, isSysError, open, pipe2, read, setPipeSize, tee } from '../../sys/index.js';

export interface PipeData {
  entry: PipeDataEntry;
  data: Uint8Array;
}

/**
 * The bytes buffered in the pipe behind `/proc/PID/fd/FD`, without taking them from it.
 * Returns undefined for an empty pipe (CRIU writes no entry for those).
 */
export function peekPipe(pid: number, fd: number, pipeId: number): PipeData | undefined {
  // A new read end of the same pipe: the task's own end may be the write end.
  const readEnd = open(`/proc/${pid}/fd/${fd}`, { flags: O.RDONLY | O.NONBLOCK | O.CLOEXEC, what: `open pipe fd ${fd} of task ${pid}` });
  let copy: [number, number] | undefined;
  try {
    const size = getPipeSize(readEnd);
    copy = pipe2({ flags: O.CLOEXEC | O.NONBLOCK });
    if (getPipeSize(copy[1]) < size) setPipeSize(copy[1], size);
    let bytes: number;
    try {
      bytes = tee(readEnd, copy[1], { len: size, flags: SPLICE_F.NONBLOCK, what: `copy the data of pipe ${pipeId}` });
    } catch (err) {
      if (isSysError(err, 'EAGAIN')) return undefined; // nothing buffered
      throw err;
    }
    if (bytes === 0) return undefined;
    const data = new Uint8Array(bytes);
    for (let got = 0; got < bytes; ) got += read(copy[0], data.subarray(got));
    return { entry: { pipe_id: pipeId, bytes, size }, data };
  } finally {
    close(readEnd);
    if (copy) {
      close(copy[0]);
      close(copy[1]);
    }
  }
}

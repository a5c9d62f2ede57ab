/**
 * The driver's side of MEMORY: the pipe (created once, its two ends sent with the first command),
 * ranges written into the args area as many at a time as fit, and for each batch reply exactly the
 * announced bytes spliced from the pipe's read end to the output fd, in order (parasite/protocol.md).
 */

import { CMD, encodeRanges, MEM_RANGE_SIZE, MSG_F_MORE, NO_INDEX, type Message } from '../../parasite/protocol.js';
import { close, errnoName, pipe2, O, setPipeSize, splice, SPLICE_F } from '../sys/index.js';
import { InfectError } from './errors.js';

/** A page-aligned range of the task's memory. */
export interface MemoryRange {
  addr: bigint;
  len: bigint;
}

/** Options of a MEMORY run. */
export interface MemoryOptions {
  /** Where the bytes go (a pages image, a file, a pipe): spliced in range order. */
  outFd: number;
  /** Bytes the pipe holds (`F_SETPIPE_SZ`, set once, on first use); 1 MiB when absent. */
  pipeSize?: number;
  /** Bytes per batch; half the pipe when absent, so the parasite fills one half while we drain the other. */
  batchBytes?: number;
}

/** What a MEMORY run moved. */
export interface MemoryResult {
  /** Bytes written to `outFd`. */
  bytes: number;
  /** MEMORY commands sent (ranges beyond the args area go in several) and replies received. */
  commands: number;
  replies: number;
  /** The first range that could not be read (its index in the caller's list), if any: the run stopped there. */
  failed?: { index: number; errno: number; code: string; address: bigint };
}

/** What MEMORY needs of the parasite's session. */
export interface MemoryChannel {
  /** The args area, seen in our mapping. */
  args: Uint8Array;
  /** Sends one command and returns its sequence number. */
  send(m: Partial<Message> & { cmd: number }, fds?: readonly number[]): number;
  /** The next reply to that command (bounded wait). */
  recv(cmd: number, seq: number): Message;
  tid: number;
  pid: number;
}

/** The pipe of one parasite session: our read end, once its ends went to the parasite. */
export class MemoryPipe {
  #read = -1;
  #size = 0;

  /** Runs MEMORY over `ranges`. */
  run(ch: MemoryChannel, ranges: readonly MemoryRange[], opts: MemoryOptions): MemoryResult {
    const result: MemoryResult = { bytes: 0, commands: 0, replies: 0 };
    const perCommand = Math.floor(ch.args.byteLength / MEM_RANGE_SIZE);
    for (let first = 0; first < ranges.length; first += perCommand) {
      const chunk = ranges.slice(first, first + perCommand);
      encodeRanges(ch.args, chunk);
      const fds = this.#read < 0 ? this.#create(opts.pipeSize ?? 1 << 20) : undefined;
      const batch = Math.min(opts.batchBytes ?? this.#size / 2, this.#size);
      let seq: number;
      try {
        seq = ch.send({ cmd: CMD.MEMORY, nr: chunk.length, a: [BigInt(batch), 0n, 0n, 0n, 0n] }, fds);
      } finally {
        if (fds !== undefined) close(fds[0]); // the parasite holds the write end now
      }
      result.commands++;
      for (;;) {
        const reply = ch.recv(CMD.MEMORY, seq);
        result.replies++;
        result.bytes += this.#drain(Number(reply.a[0]), opts.outFd);
        if ((reply.flags & MSG_F_MORE) !== 0) continue;
        if (reply.status < 0) {
          if (reply.index === NO_INDEX) throw new InfectError('PARASITE_COMMAND', `MEMORY failed in task ${ch.pid}: ${errnoName(-reply.status)}`, { tid: ch.tid, pid: ch.pid, command: 'MEMORY', errno: -reply.status });
          result.failed = { index: first + reply.index, errno: -reply.status, code: errnoName(-reply.status), address: reply.a[2] };
          return result;
        }
        break;
      }
    }
    return result;
  }

  /** Makes the pipe; returns its ends as the parasite wants them, [write, read]. */
  #create(size: number): [number, number] {
    const [r, w] = pipe2({ flags: O.CLOEXEC });
    try {
      this.#size = setPipeSize(w, size);
    } catch (err) {
      close(r);
      close(w);
      throw err;
    }
    this.#read = r;
    return [w, r];
  }

  /** `splice(pipe, NULL, out, NULL, n, SPLICE_F_MOVE)` until exactly `n` bytes moved. */
  #drain(n: number, outFd: number): number {
    let left = n;
    while (left > 0) {
      const got = splice(this.#read, outFd, { len: left, flags: SPLICE_F.MOVE, what: 'splice parasite pages out of the pipe' });
      if (got === 0) throw new InfectError('PARASITE_PROTOCOL', `The MEMORY pipe ran dry with ${left} announced bytes left`, { tid: 0 });
      left -= got;
    }
    return n;
  }

  /** Closes our end. */
  close(): void {
    if (this.#read >= 0) close(this.#read);
    this.#read = -1;
  }
}

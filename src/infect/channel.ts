/**
 * The driver's end of the control channel: a listening `SOCK_SEQPACKET` socket at a fresh abstract
 * address, the one connection the parasite makes, and 64-byte messages with fds (`SCM_RIGHTS`).
 * Every wait is bounded: the sockets get `SO_RCVTIMEO`, and between timeouts the caller's `check`
 * looks at the task (a parasite that faulted stops the task instead of answering).
 */

import { randomBytes } from 'node:crypto';
import { decodeMessage, encodeMessage, FDS_BATCH, MSG as PMSG, type Message } from '../../parasite/protocol.js';
import {
  accept, AF, bind, close, encodeSockAddr, getPeerCred, isSysError, listen, MSG, recvmsg, sendmsg, setsockopt, SOCK, SOL, socket,
} from '../sys/index.js';
import { InfectError } from './errors.js';

/** `SO_RCVTIMEO` (the `struct timeval` form), the same on x86_64 and aarch64. */
const SO_RCVTIMEO = 20;
/** How long one blocking receive waits before the caller's check runs again. */
const SLICE_MS = 50;

/** Who the channel is for, for errors. */
export interface ChannelTask {
  tid: number;
  pid: number;
}

/** A listening socket for one parasite, then its connection. */
export class ControlChannel {
  /** The encoded `sockaddr_un` the parasite connects to (for the control block). */
  readonly address: Uint8Array;
  readonly #task: ChannelTask;
  #listen: number;
  #sock = -1;
  #seq = 0;
  readonly #buf = new Uint8Array(PMSG.SIZE);

  constructor(task: ChannelTask) {
    this.#task = task;
    const name = `criu-ts-parasite-${process.pid}-${task.pid}-${randomBytes(6).toString('hex')}`;
    const addr = { family: 'unix', path: name, abstract: true } as const;
    this.address = encodeSockAddr(addr);
    this.#listen = socket(AF.UNIX, SOCK.SEQPACKET | SOCK.CLOEXEC, { what: 'create the parasite control socket' });
    try {
      bind(this.#listen, addr, { what: 'bind the parasite control socket' });
      listen(this.#listen, { backlog: 1 });
      setRecvTimeout(this.#listen, SLICE_MS);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** True once the parasite is connected. */
  get connected(): boolean {
    return this.#sock >= 0;
  }

  /**
   * `accept4(listen, NULL, NULL, SOCK_CLOEXEC)` until the task's parasite connects (its peer
   * credentials name the task) or `timeoutMs` passes; `check` runs between tries.
   */
  accept(timeoutMs: number, check: () => void): void {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let fd = -1;
      try {
        fd = accept(this.#listen, { flags: SOCK.CLOEXEC });
      } catch (err) {
        if (!isSysError(err, 'EAGAIN')) throw err;
      }
      if (fd >= 0) {
        if (getPeerCred(fd).pid === this.#task.pid) {
          this.#sock = fd;
          setRecvTimeout(fd, SLICE_MS);
          close(this.#listen);
          this.#listen = -1;
          return;
        }
        close(fd); // someone else found the name: not ours
      }
      check();
      if (performance.now() > deadline) throw new InfectError('PARASITE_TIMEOUT', `The parasite in task ${this.#task.pid} did not connect within ${timeoutMs} ms`, this.#task);
    }
  }

  /** Sends one command (with fds, if any); returns its sequence number. */
  send(m: Partial<Message> & { cmd: number }, fds?: readonly number[]): number {
    const seq = ++this.#seq;
    const bytes = encodeMessage({ ...m, seq }, this.#buf);
    sendmsg(this.#sock, { data: bytes, ...(fds === undefined ? {} : { fds }) }, { flags: MSG.NOSIGNAL, what: 'send a command to the parasite' });
    return seq;
  }

  /**
   * Receives one reply to command `cmd` number `seq`, with up to 253 fds. Waits at most
   * `timeoutMs`, running `check` between slices.
   */
  recv(cmd: number, seq: number, timeoutMs: number, check: () => void): { msg: Message; fds: number[] } {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let got;
      try {
        got = recvmsg(this.#sock, this.#buf, { maxFds: FDS_BATCH, flags: MSG.CMSG_CLOEXEC, what: 'receive a reply of the parasite' });
      } catch (err) {
        if (!isSysError(err, 'EAGAIN')) throw err;
        check();
        if (performance.now() > deadline) throw new InfectError('PARASITE_TIMEOUT', `The parasite in task ${this.#task.pid} did not answer within ${timeoutMs} ms`, this.#task);
        continue;
      }
      if (got.bytes === 0) throw new InfectError('PARASITE_GONE', `The parasite in task ${this.#task.pid} closed its control socket`, this.#task);
      const msg = decodeMessage(this.#buf);
      if (got.bytes !== PMSG.SIZE || (got.flags & (MSG.TRUNC | MSG.CTRUNC)) !== 0 || msg.cmd !== cmd || msg.seq !== seq) {
        for (const fd of got.fds) close(fd);
        throw new InfectError('PARASITE_PROTOCOL', `Bad reply from the parasite in task ${this.#task.pid}: ${got.bytes} bytes, command ${msg.cmd} #${msg.seq} for ${cmd} #${seq}`, this.#task);
      }
      return { msg, fds: got.fds };
    }
  }

  /** Closes both sockets (the parasite sees EOF and leaves). Safe to call twice. */
  close(): void {
    for (const fd of [this.#sock, this.#listen]) if (fd >= 0) close(fd);
    this.#sock = -1;
    this.#listen = -1;
  }
}

/** `setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, {0, ms * 1000})`. */
function setRecvTimeout(fd: number, ms: number): void {
  const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]);
  setsockopt(fd, { level: SOL.SOCKET, name: SO_RCVTIMEO, value: tv }, { what: 'set SO_RCVTIMEO' });
}

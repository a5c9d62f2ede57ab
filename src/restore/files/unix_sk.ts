/**
 * Unix sockets (files.img UNIXSK): the first time a task needs one, every Unix socket of the
 * images is made again in the driver, in phases, since each needs others to be there first:
 *
 *   1. made: both ends of a connection inside the tree with `socketpair()` (a datagram pair gets
 *      its names bound too; CRIU binds no connected stream socket); any other socket with
 *      `socket()`, bound at its name (unix_name.ts), listening with its backlog. A datagram socket
 *      with queued data and no partner to send it is made as one end of a pair whose peer is then
 *      cut (`connect(AF_UNSPEC)`), and the other end sends the data before it is closed (CRIU's
 *      fake queuer); a stream socket whose peer is gone (shut down both ways) is one end of a
 *      pair whose other end sends its data and is closed.
 *   2. connections to listeners of the tree: an accepted connection is made again by connecting
 *      its client to the listener and accepting it, so both ends keep their names; a connection
 *      not accepted yet is connected and left in the listener's queue.
 *   3. datagram sockets connected to a peer that is not connected back (a named server, or a
 *      peer outside the tree, which needs --ext-unix-sk as in CRIU), each before its target
 *      connects elsewhere (the kernel lets a socket receive only from its own peer).
 *   4. queued data sent again through each socket's peer (unix_queue.ts);
 *   5. shutdown state; 6. socket options (sk_opts.ts) and file flags.
 *
 * Sockets are made non-blocking (nothing in the driver may block); file flags come last. A
 * failure names the task and fd holding the socket and what could not be done; socket files
 * bound so far are removed again.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import type { UnixSkEntry } from '../../images/generated/types.js';
import { TCP_STATE } from '../../net/constants.js';
import { AF, F, SOCK, accept, close, connect, fcntl, isSysError, listen, shutdown, socket, socketpair } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { RestorePlan } from '../plan.js';
import type { FileKindOpener, OpenContext } from './kind.js';
import { SocketOptionError, restoreSocketOpts } from './sk_opts.js';
import { bindUnixName, connectUnixName, describeName, occupant, unixName, type BoundName, type UnixName } from './unix_name.js';
import { queuedPackets, sendQueue, type QueuedPacket } from './unix_queue.js';

/** unix_sk_entry.uflags: the socket is outside the tree (a peer recorded with --ext-unix-sk). */
export const USK_EXTERN = 1;

/** One socket of the images, as it is being made. */
interface Sk {
  id: number;
  usk: UnixSkEntry;
  name: UnixName;
  /** `Task P, fd N: Unix stream socket socket:[I] (name)`, for messages. */
  label: string;
  pid: number | undefined;
  fd?: number;
  bound?: BoundName;
  /** A socket of the tree connected to this one, which sends its queued data. */
  sender?: Sk;
  /** An end made only to send this socket's queued data, closed after. */
  helper?: number;
}

/** What the sockets of one restore need besides the plan. */
export interface UnixRestoreOptions {
  /** `--ext-unix-sk`: sockets whose peer is outside the tree are connected to it by name. */
  extUnixSk: boolean;
}

const results = new WeakMap<OpenContext, Map<number, number>>();

/**
 * The UNIXSK opener: builds every Unix socket on first use ({@link restoreUnixSockets}), then
 * hands out the driver fd of each.
 */
export const UNIXSK_OPENER: FileKindOpener = {
  kind: 'UNIXSK',
  open(entry, ctx) {
    let fds = results.get(ctx);
    if (fds === undefined) {
      fds = restoreUnixSockets(ctx.plan, ctx.opened, { extUnixSk: ctx.options.extUnixSk ?? false });
      results.set(ctx, fds);
    }
    const fd = fds.get(entry.id);
    if (fd === undefined) throw new Error(`Unix socket ${entry.id} was not made`);
    return fd;
  },
};

const TYPE_NAMES: Record<number, string> = { [SOCK.STREAM]: 'stream', [SOCK.DGRAM]: 'datagram', [SOCK.SEQPACKET]: 'seqpacket' };
const NONBLOCK_CLOEXEC = SOCK.NONBLOCK | SOCK.CLOEXEC;

/**
 * Makes every Unix socket of `plan` in the driver; returns their fds by file id. Each fd made is
 * pushed to `opened` (closed by the caller at the end, or on failure).
 */
export function restoreUnixSockets(plan: RestorePlan, opened: number[], opts: UnixRestoreOptions): Map<number, number> {
  const job = new UnixRestore(plan, opened, opts);
  try {
    job.run();
  } catch (err) {
    job.undo();
    throw err;
  }
  return job.fds();
}

class UnixRestore {
  readonly #opened: number[];
  readonly #opts: UnixRestoreOptions;
  readonly #sks: Sk[] = [];
  readonly #byIno = new Map<number, Sk>();
  readonly #extern = new Map<number, UnixSkEntry>();
  readonly #queues: Map<number, QueuedPacket[]>;
  readonly #accepts: Array<{ listener: Sk; client: Sk; accepted: Sk }> = [];
  readonly #pending: Sk[] = [];
  readonly #dgramConnects: Sk[] = [];
  readonly #helpers: number[] = [];
  readonly #created: string[] = [];

  constructor(plan: RestorePlan, opened: number[], opts: UnixRestoreOptions) {
    this.#opened = opened;
    this.#opts = opts;
    this.#queues = queuedPackets(plan.images);
    const holders = new Map<number, { pid: number; fd: number }>();
    for (const task of plan.tasks) for (const fd of task.fds ?? []) if (!holders.has(fd.id)) holders.set(fd.id, { pid: task.pid, fd: fd.fd });
    for (const entry of plan.files.values()) {
      const usk = entry.usk;
      if (usk === undefined) continue;
      if ((usk.uflags & USK_EXTERN) !== 0) {
        this.#extern.set(usk.ino, usk);
        continue;
      }
      const holder = holders.get(entry.id);
      const where = holder === undefined ? `File ${entry.id}` : `Task ${holder.pid}, fd ${holder.fd}`;
      const base = `${where}: Unix ${TYPE_NAMES[usk.type] ?? `type-${usk.type}`} socket socket:[${usk.ino}]`;
      let name: UnixName;
      try {
        name = unixName(usk);
      } catch (err) {
        throw this.#unsupported(base, holder?.pid, (err as Error).message);
      }
      const sk: Sk = { id: entry.id, usk, name, label: name.kind === 'none' ? base : `${base} (${describeName(name)})`, pid: holder?.pid };
      this.#sks.push(sk);
      this.#byIno.set(usk.ino, sk);
    }
  }

  /** Checks everything, then the phases of the module comment. */
  run(): void {
    for (const sk of this.#sks) this.#check(sk);
    for (const sk of this.#sks) if (sk.fd === undefined && !this.#deferred(sk)) this.#make(sk);
    for (const a of this.#accepts) this.#step(a.client, 'connect to the listener and be accepted again', () => this.#reconnect(a));
    for (const sk of this.#pending) this.#step(sk, 'connect to the listener it waits on', () => connectUnixName(sk.fd!, this.#peer(sk)!.name, this.#peer(sk)!.bound));
    for (const sk of this.#connectOrder()) this.#step(sk, 'connect to its peer', () => this.#connectDatagram(sk));
    for (const sk of this.#sks) {
      const packets = this.#queues.get(sk.id);
      if (packets === undefined || (sk.usk.type === SOCK.DGRAM && sk.helper !== undefined)) continue;
      const sender = sk.helper ?? sk.sender?.fd;
      if (sender === undefined) throw this.#failed(sk, 'send its queued data again', 'no socket of the tree is connected to it to send the data');
      this.#step(sk, 'send its queued data again', () => sendQueue(sender, packets, { stream: sk.usk.type === SOCK.STREAM }));
    }
    this.#closeHelpers();
    for (const sk of this.#sks) {
      const how = sk.usk.shutdown ?? 0;
      if (how !== 0) this.#step(sk, `shut it down (${how})`, () => shutdownIfConnected(sk.fd!, how - 1));
    }
    for (const sk of this.#sks) {
      this.#step(sk, 'set its options', () => restoreSocketOpts(sk.fd!, sk.usk.opts));
      this.#step(sk, 'set its file flags', () => fcntl(sk.fd!, F.SETFL, { arg: sk.usk.flags }));
    }
  }

  /** The driver fd of each socket, by file id. */
  fds(): Map<number, number> {
    return new Map(this.#sks.map((sk) => [sk.id, sk.fd!]));
  }

  /** After a failure: helper ends closed, the socket files this restore bound removed again. */
  undo(): void {
    this.#closeHelpers();
    for (const path of this.#created) {
      try {
        if (lstatSync(path).isSocket()) unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }

  #closeHelpers(): void {
    for (const fd of this.#helpers.splice(0)) close(fd);
  }

  /** Refusals found before anything is made (RESTORE_UNSUPPORTED). */
  #check(sk: Sk): void {
    const u = sk.usk;
    if (TYPE_NAMES[u.type] === undefined) throw this.#unsupported(sk.label, sk.pid, 'its type cannot be restored');
    if (u.state !== TCP_STATE.LISTEN && u.state !== TCP_STATE.ESTABLISHED && u.state !== TCP_STATE.CLOSE) throw this.#unsupported(sk.label, sk.pid, `its state ${u.state} cannot be restored`);
    if (u.peer !== 0 && !this.#byIno.has(u.peer)) {
      const ext = this.#extern.get(u.peer);
      if (ext === undefined) throw this.#unsupported(sk.label, sk.pid, `its peer socket:[${u.peer}] is not in the images`);
      if (!this.#opts.extUnixSk) {
        throw this.#unsupported(sk.label, sk.pid, `its peer socket:[${u.peer}] (${describeName(unixName(ext))}) is outside the tree: restore with --ext-unix-sk to connect to it again`);
      }
    }
    const packets = this.#queues.get(sk.id) ?? [];
    const fds = packets.reduce((n, p) => n + p.fds, 0);
    if (fds > 0) throw this.#unsupported(sk.label, sk.pid, `messages queued on it carry ${fds} file descriptor(s) (SCM_RIGHTS), which restore does not send yet`);
    const peer = this.#byIno.get(u.peer);
    if (u.type === SOCK.DGRAM && peer !== undefined && peer !== sk && peer.usk.peer !== u.ino && peer.usk.peer !== 0 && this.#byIno.get(peer.usk.peer)?.usk.peer === peer.usk.ino) {
      throw this.#unsupported(sk.label, sk.pid, `it sends to socket:[${peer.usk.ino}], which is one end of a connected pair (the kernel lets it receive from its pair only)`);
    }
  }

  /** Sockets made by their partner in a later phase (an accepted connection and its client). */
  #deferred(sk: Sk): boolean {
    return this.#accepts.some((a) => a.client === sk || a.accepted === sk);
  }

  #peer(sk: Sk): Sk | undefined {
    return sk.usk.peer === 0 ? undefined : this.#byIno.get(sk.usk.peer);
  }

  /** Phase 1 for one socket (and its partner, for a pair). */
  #make(sk: Sk): void {
    const u = sk.usk;
    const peer = this.#peer(sk);
    if (peer !== undefined && peer !== sk && peer.usk.peer === u.ino) {
      if (u.type !== SOCK.DGRAM) {
        const mine = this.#listenerNamed(sk);
        const theirs = mine === undefined ? this.#listenerNamed(peer) : undefined;
        if (mine !== undefined) return void this.#accepts.push({ listener: mine, client: peer, accepted: sk });
        if (theirs !== undefined) return void this.#accepts.push({ listener: theirs, client: sk, accepted: peer });
      }
      const [a, b] = this.#step(sk, 'make it with its peer (socketpair)', () => socketpair(AF.UNIX, u.type | NONBLOCK_CLOEXEC));
      this.#opened.push(a, b);
      sk.fd = a;
      peer.fd = b;
      sk.sender = peer;
      peer.sender = sk;
      if (u.type === SOCK.DGRAM) {
        this.#bind(sk);
        this.#bind(peer);
      }
      return;
    }
    const packets = this.#queues.get(sk.id);
    const peerGone = u.type !== SOCK.DGRAM && u.state === TCP_STATE.ESTABLISHED && u.peer === 0;
    if (peerGone || (u.type === SOCK.DGRAM && packets !== undefined)) {
      const [a, b] = this.#step(sk, 'make it with a helper end for its queued data (socketpair)', () => socketpair(AF.UNIX, u.type | NONBLOCK_CLOEXEC));
      this.#opened.push(a);
      this.#helpers.push(b);
      sk.fd = a;
      sk.helper = b;
      if (!peerGone) {
        // The helper keeps the pair as its peer, so it may still send once this end has none.
        this.#step(sk, 'cut it from the helper end', () => connect(a, { family: 'raw', af: AF.UNSPEC, bytes: Buffer.alloc(2) }));
        this.#bind(sk);
        this.#step(sk, 'send its queued data again', () => sendQueue(b, packets!, { stream: false }));
        this.#closeHelper(sk);
      }
    } else {
      sk.fd = this.#step(sk, 'make it (socket)', () => socket(AF.UNIX, u.type | NONBLOCK_CLOEXEC));
      this.#opened.push(sk.fd);
      // A connected stream or seqpacket socket keeps no name of its own (CRIU's rule too).
      if (u.type === SOCK.DGRAM || u.state !== TCP_STATE.ESTABLISHED) this.#bind(sk);
    }
    if (u.state === TCP_STATE.LISTEN) this.#step(sk, `listen (backlog ${u.backlog})`, () => listen(sk.fd!, { backlog: u.backlog }));
    if (u.peer !== 0 && u.type === SOCK.DGRAM) this.#dgramConnects.push(sk);
    else if (u.peer !== 0 && !peerGone) {
      if (peer?.usk.state !== TCP_STATE.LISTEN) throw this.#unsupported(sk.label, sk.pid, `its peer socket:[${u.peer}] is connected elsewhere and does not listen`);
      this.#pending.push(sk);
    }
  }

  #closeHelper(sk: Sk): void {
    const i = this.#helpers.indexOf(sk.helper!);
    if (i >= 0) this.#helpers.splice(i, 1);
    close(sk.helper!);
  }

  /** The listener of the tree an accepted stream socket came from: same type, same name. */
  #listenerNamed(sk: Sk): Sk | undefined {
    if (sk.name.kind === 'none') return undefined;
    const bytes = Buffer.from(sk.usk.name);
    return this.#sks.find((l) => l.usk.state === TCP_STATE.LISTEN && l.usk.type === sk.usk.type && bytes.equals(l.usk.name) && l.usk.name_dir === sk.usk.name_dir);
  }

  #bind(sk: Sk): void {
    if (sk.name.kind === 'none') return;
    try {
      sk.bound = bindUnixName(sk.fd!, sk.usk, sk.name, this.#opened);
    } catch (err) {
      const inTheWay = isSysError(err, 'EADDRINUSE') ? occupant(sk.name) : undefined;
      const why = inTheWay === undefined ? (err as Error).message : `the path is taken by ${inTheWay} (only a stale socket file is removed)`;
      throw this.#failed(sk, `bind it to ${describeName(sk.name)}`, why, err);
    }
    if (sk.bound.created !== undefined) this.#created.push(sk.bound.created);
  }

  /** `connect(client, listener)` then `accept4(listener)`: the connection as it was, names and all. */
  #reconnect(a: { listener: Sk; client: Sk; accepted: Sk }): void {
    const type = a.client.usk.type;
    a.client.fd = socket(AF.UNIX, type | NONBLOCK_CLOEXEC);
    this.#opened.push(a.client.fd);
    connectUnixName(a.client.fd, a.listener.name, a.listener.bound);
    a.accepted.fd = accept(a.listener.fd!, { flags: NONBLOCK_CLOEXEC });
    this.#opened.push(a.accepted.fd);
    a.client.sender = a.accepted;
    a.accepted.sender = a.client;
  }

  /** A datagram socket to its peer: in the tree, outside it (--ext-unix-sk), or itself. */
  #connectDatagram(sk: Sk): void {
    const peer = this.#peer(sk);
    if (peer !== undefined) {
      connectUnixName(sk.fd!, peer.name, peer.bound);
      return;
    }
    connectUnixName(sk.fd!, unixName(this.#extern.get(sk.usk.peer)!), undefined);
  }

  /** Datagram connections, each socket's own after those made to it. */
  #connectOrder(): Sk[] {
    const order: Sk[] = [];
    const state = new Map<Sk, 'visiting' | 'done'>();
    const incoming = new Map<Sk, Sk[]>();
    for (const sk of this.#dgramConnects) {
      const target = this.#peer(sk);
      if (target !== undefined && target !== sk) incoming.set(target, [...(incoming.get(target) ?? []), sk]);
    }
    const visit = (sk: Sk): void => {
      if (state.get(sk) === 'done') return;
      if (state.get(sk) === 'visiting') throw this.#unsupported(sk.label, sk.pid, 'it is in a ring of datagram sockets each connected to the next, which cannot be made again');
      state.set(sk, 'visiting');
      for (const from of incoming.get(sk) ?? []) visit(from);
      state.set(sk, 'done');
      if (this.#dgramConnects.includes(sk)) order.push(sk);
    };
    for (const sk of this.#dgramConnects) visit(sk);
    return order;
  }

  /** Runs one step for `sk`, turning a failure into RESTORE_FAILED naming it. */
  #step<T>(sk: Sk, what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof RestoreError) throw err;
      const why = err instanceof SocketOptionError ? err.message : (err as Error).message;
      throw this.#failed(sk, what, why, err);
    }
  }

  #failed(sk: Sk, what: string, why: string, cause?: unknown): RestoreError {
    return new RestoreError('RESTORE_FAILED', `${sk.label}: cannot ${what}: ${why}`, { ...(sk.pid === undefined ? {} : { pid: sk.pid }), image: 'files.img', step: 'make its Unix sockets', ...(cause === undefined ? {} : { cause }) });
  }

  #unsupported(label: string, pid: number | undefined, why: string): RestoreError {
    return new RestoreError('RESTORE_UNSUPPORTED', `${label}: ${why}`, { ...(pid === undefined ? {} : { pid }), image: 'files.img' });
  }
}

/** `shutdown(fd, how)`; a socket whose peer is already gone (ENOTCONN) has nothing left to shut. */
function shutdownIfConnected(fd: number, how: number): void {
  try {
    shutdown(fd, how);
  } catch (err) {
    if (!isSysError(err, 'ENOTCONN')) throw err;
  }
}

/**
 * Unix sockets (files.img UNIXSK, unix_sk_entry as CRIU writes it) and their queued data
 * (sk-queues.img). What the socket is comes from sock_diag (one listing of every Unix socket per
 * dump): type, state, name, peer, pending connections, queue lengths, shutdown; its options from
 * the socket itself.
 *
 * Peers: a connected socket names its peer by inode. When the dump ends, every peer must have been
 * dumped too (both ends of a socketpair, a client and its server...). A peer no task of the tree
 * holds is an external peer: refused, unless `--ext-unix-sk` is given and the peer is a named
 * datagram socket, which is then recorded as CRIU does (a UNIXSK entry of its own, flagged
 * USK_EXTERN, that restore reconnects to by name).
 */
import type { SkOptsEntry, UnixSkEntry } from '../../images/generated/types.js';
import { TCP_STATE } from '../../net/constants.js';
import { unixSocket, unixSockets, type UnixSocketDiag } from '../../net/sock_diag.js';
import { AF, SOCK } from '../../sys/index.js';
import { NO_FOWN } from './fown.js';
import { FdDumpError, type FdDumpContext, type FdFacts } from './kind.js';
import { dumpSocketOpts } from './sk_opts.js';
import { peekQueue } from './sk_queue.js';
import { resolveUnixName } from './unix_name.js';

/** unix_sk_entry.uflags: the peer lives outside the dumped tree. */
export const USK_EXTERN = 1;

/** `RCV_SHUTDOWN | SEND_SHUTDOWN`, sk_shutdown BOTH. */
const SHUTDOWN_BOTH = 3;

interface Waiter {
  pid: number;
  fd: number;
  ino: number;
}

/** What one dump knows of Unix sockets. */
interface UnixDumpState {
  /** Every Unix socket of the network namespace, as sock_diag listed them when the first was dumped. */
  sockets: Map<number, UnixSocketDiag>;
  /** The listener each connection not yet accepted waits on, by the connecting socket's inode. */
  listenerOf: Map<number, UnixSocketDiag>;
  dumped: Set<number>;
  /** Dumped sockets whose peer was not dumped (yet), by the peer's inode. */
  waiting: Map<number, Waiter[]>;
}

const states = new WeakMap<FdDumpContext, UnixDumpState>();

function stateOf(ctx: FdDumpContext): UnixDumpState {
  let st = states.get(ctx);
  if (st === undefined) {
    const sockets = unixSockets();
    const listenerOf = new Map<number, UnixSocketDiag>();
    for (const sk of sockets.values()) for (const icon of sk.icons ?? []) if (icon !== 0) listenerOf.set(icon, sk);
    const created: UnixDumpState = { sockets, listenerOf, dumped: new Set(), waiting: new Map() };
    states.set(ctx, created);
    ctx.checks.push(() => settlePeers(ctx, created));
    st = created;
  }
  return st;
}

/** Dumps the Unix socket of `f` (network namespace id `nsId`); returns its file id. */
export function dumpUnixSocket(f: FdFacts, ctx: FdDumpContext, nsId: number): number {
  const st = stateOf(ctx);
  const ino = Number(f.stat.ino);
  const sk = st.sockets.get(ino) ?? unixSocket(ino);
  if (sk === undefined) throw new FdDumpError('FD_FAILED', f.pid, f.fd, `sock_diag does not know the Unix socket ${f.link}`);
  const fail = (what: string): never => {
    throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `Unix ${typeName(sk.type)} socket ${f.link} ${what}`);
  };
  if (sk.type !== SOCK.STREAM && sk.type !== SOCK.DGRAM && sk.type !== SOCK.SEQPACKET) fail('has a type that is not dumped (only stream, datagram and seqpacket are)');
  if (sk.state !== TCP_STATE.LISTEN && sk.state !== TCP_STATE.ESTABLISHED && sk.state !== TCP_STATE.CLOSE) fail(`is in state ${sk.state}, which is not dumped`);

  const shutdown = sk.shutdown ?? 0;
  const wqueue = sk.rqlen?.wqueue ?? 0;
  let peer = sk.peer ?? 0;
  if (peer !== 0) {
    const other = st.sockets.get(peer);
    if (other === undefined) fail(`is connected to socket:[${peer}], which sock_diag does not list (another network namespace?)`);
    else if (other.peer !== ino && other.name === undefined) fail(`is connected to socket:[${peer}], which is connected elsewhere and has no name to reach it by`);
  } else if (sk.state === TCP_STATE.ESTABLISHED && sk.type !== SOCK.DGRAM) {
    const listener = st.listenerOf.get(ino);
    if (listener === undefined) {
      // Its peer is gone: fine if nothing can go either way any more (a semi-closed connection).
      if (shutdown !== SHUTDOWN_BOTH) fail('is connected to a peer that is gone, and is not shut down');
    } else {
      if (listener.state !== TCP_STATE.LISTEN) fail(`waits to be accepted by socket:[${listener.ino}], which does not listen`);
      if (wqueue !== 0) fail(`waits to be accepted by socket:[${listener.ino}] and has sent ${wqueue} bytes that cannot be read back before that`);
      peer = listener.ino; // restore connects it to the listener again
    }
  } else if (sk.state === TCP_STATE.LISTEN && (sk.icons ?? []).includes(0)) {
    fail('has a pending connection whose client is already closed');
  }

  let names;
  try {
    names = resolveUnixName(f.local, sk.name);
  } catch (err) {
    throw new FdDumpError('FD_FAILED', f.pid, f.fd, `cannot resolve the name of Unix socket ${f.link}: ${(err as Error).message}`);
  }
  const packets = (sk.rqlen?.rqueue ?? 0) !== 0 && sk.state !== TCP_STATE.LISTEN ? peekQueue(f, { datagrams: sk.type !== SOCK.STREAM }) : [];
  const opts = dumpSocketOpts(f.local, AF.UNIX);

  const id = ctx.files.add('UNIXSK', (fileId) => {
    const usk: UnixSkEntry = {
      id: fileId,
      ino,
      type: sk.type,
      state: sk.state,
      flags: f.flags,
      uflags: 0,
      backlog: wqueue,
      peer,
      fown: f.fown,
      opts,
      name: sk.name ?? new Uint8Array(0),
    };
    if (shutdown !== 0) usk.shutdown = shutdown;
    if (names.file_perms !== undefined) usk.file_perms = names.file_perms;
    if (names.name_dir !== undefined) usk.name_dir = names.name_dir;
    if (names.deleted) usk.deleted = true;
    usk.ns_id = nsId;
    return { usk };
  });
  if (packets.length > 0) {
    const queue = ctx.extra.get('skQueues') ?? [];
    for (const data of packets) queue.push({ entry: { id_for: id, length: data.length }, extra: data });
    ctx.extra.set('skQueues', queue);
  }
  if (peer !== 0 && !st.dumped.has(peer)) {
    const list = st.waiting.get(peer) ?? [];
    list.push({ pid: f.pid, fd: f.fd, ino });
    st.waiting.set(peer, list);
  }
  st.dumped.add(ino);
  st.waiting.delete(ino);
  return id;
}

/** sk_opts_entry of a socket nobody here holds: its required fields, zero. */
const NO_OPTS: SkOptsEntry = { so_sndbuf: 0, so_rcvbuf: 0, so_snd_tmo_sec: 0n, so_snd_tmo_usec: 0n, so_rcv_tmo_sec: 0n, so_rcv_tmo_usec: 0n };

/** Once every task is dumped: the peers still waited for are outside the tree. */
function settlePeers(ctx: FdDumpContext, st: UnixDumpState): void {
  for (const [peerIno, waiters] of st.waiting) {
    const peer = st.sockets.get(peerIno)!;
    for (const w of waiters) {
      const what = `Unix socket socket:[${w.ino}] is connected to socket:[${peerIno}]${describeName(peer)}, which no task of the dumped tree holds`;
      if (!ctx.options.extUnixSk) {
        throw new FdDumpError('FD_UNSUPPORTED', w.pid, w.fd, `${what} (--ext-unix-sk allows a named datagram peer outside the tree)`);
      }
      if (peer.type !== SOCK.DGRAM) {
        throw new FdDumpError('FD_UNSUPPORTED', w.pid, w.fd, `${what}: half of a ${typeName(peer.type)} connection cannot be dumped, even with --ext-unix-sk`);
      }
      if (peer.name === undefined) {
        throw new FdDumpError('FD_UNSUPPORTED', w.pid, w.fd, `${what}: it has no name to reconnect to, even with --ext-unix-sk`);
      }
    }
    // CRIU's record of an external peer: a listening datagram socket with the peer's name.
    ctx.files.add('UNIXSK', (id) => ({
      usk: {
        id,
        ino: peerIno,
        type: SOCK.DGRAM,
        state: TCP_STATE.LISTEN,
        flags: 0,
        uflags: USK_EXTERN,
        backlog: 0,
        peer: 0,
        fown: NO_FOWN,
        opts: NO_OPTS,
        name: peer.name!,
      },
    }));
  }
  st.waiting.clear();
}

function typeName(type: number): string {
  return type === SOCK.STREAM ? 'stream' : type === SOCK.DGRAM ? 'datagram' : type === SOCK.SEQPACKET ? 'seqpacket' : `type-${type}`;
}

function describeName(sk: UnixSocketDiag): string {
  if (sk.name === undefined || sk.name.length === 0) return ' (unnamed)';
  if (sk.name[0] === 0) return ` (bound to @${sk.name.subarray(1).toString()})`;
  const nul = sk.name.indexOf(0);
  return ` (bound to ${sk.name.subarray(0, nul < 0 ? sk.name.length : nul).toString()})`;
}

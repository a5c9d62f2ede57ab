/**
 * Established TCP connections during a dump (`--tcp-established`), from the network lock to the
 * end of the dump:
 *
 *   1. `open()`, before anything is frozen: the lock's nftables table is created, empty, so that a
 *      machine without nftables fails the dump while the tree still runs untouched.
 *   2. `lockTree()`, once the tree is frozen: every TCP connection its tasks hold (their fds'
 *      socket inodes, matched against sock_diag's lists) is locked in one nft transaction.
 *   3. `checkpoint()`, for each connection the fd dump meets: the socket is put in repair mode
 *      and its state and queues are read (a connection `lockTree` missed is locked first). A copy
 *      of the socket is kept, so repair mode can be left again.
 *   4. At the end, one of:
 *      - `resume()` (`--leave-running`, `--leave-stopped`, or a failed dump): repair mode off on
 *        every socket, then the lock released; the connections go on, their peers saw a pause;
 *      - `handOver()` (the tree is killed): the sockets are closed while still in repair mode,
 *        which sends nothing, and the lock stays until the restore drops it (the table is named
 *        after the dump's run id, which inventory.img keeps).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { TCP_STATE } from '../net/constants.js';
import { describeConnection, NetworkLock, type LockedConnection, type NetworkLockStats } from '../net/network_lock.js';
import { inetSockets, type InetSocketDiag } from '../net/sock_diag.js';
import { saveConnection, setRepair, type TcpConnectionState } from '../net/tcp_repair.js';
import { AF, F, IPPROTO, close, fcntl, formatIPv4, formatIPv6 } from '../sys/index.js';

/** The TCP states of a connection (a socket with a peer), as a sock_diag state mask. */
const CONNECTED_STATES = [
  TCP_STATE.ESTABLISHED, TCP_STATE.SYN_SENT, TCP_STATE.FIN_WAIT1, TCP_STATE.FIN_WAIT2, TCP_STATE.CLOSE_WAIT, TCP_STATE.LAST_ACK, TCP_STATE.CLOSING,
].reduce((mask, s) => mask | (1 << s), 0);

/** The socket inodes among the fds of task `pid` (a task that is gone has none). */
function socketInodes(pid: number): number[] {
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of names) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${name}`));
      if (m) out.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function lockedOf(sk: InetSocketDiag): LockedConnection {
  const v6 = sk.family === AF.INET6;
  const text = (a: Buffer) => (v6 ? formatIPv6(a) : formatIPv4(a));
  return { family: v6 ? 6 : 4, localAddress: text(sk.src), localPort: sk.srcPort, remoteAddress: text(sk.dst), remotePort: sk.dstPort };
}

function connectionKey(c: LockedConnection): string {
  return `${c.family} ${c.localAddress} ${c.localPort} ${c.remoteAddress} ${c.remotePort}`;
}

export class TcpConnections {
  readonly runId: string;
  readonly #lock: NetworkLock;
  /** The driver's copies of the sockets in repair mode, with what they are. */
  readonly #repaired: Array<{ fd: number; conn: LockedConnection }> = [];
  /** Connections the lock holds, by `connectionKey`. */
  readonly #locked = new Set<string>();
  #done = false;

  private constructor(runId: string, lock: NetworkLock) {
    this.runId = runId;
    this.#lock = lock;
  }

  /** Takes the (empty) network lock of the dump `runId`. */
  static open(runId: string): TcpConnections {
    return new TcpConnections(runId, NetworkLock.take(runId, []));
  }

  /** The lock's table (`CRIU-<run id>`), as nft lists it. */
  get table(): string {
    return this.#lock.table;
  }

  /** How many connections are in repair mode. */
  get count(): number {
    return this.#repaired.length;
  }

  /** The nft transactions and changes the lock took so far. */
  get lockStats(): NetworkLockStats {
    return { ...this.#lock.stats };
  }

  /**
   * Locks every TCP connection (not a listener) held by the tasks `pids`, in one transaction:
   * one nft run however many connections a server has. Returns how many were locked.
   */
  lockTree(pids: readonly number[]): number {
    const held = new Set<number>();
    for (const pid of pids) for (const ino of socketInodes(pid)) held.add(ino);
    const conns: LockedConnection[] = [];
    for (const family of [AF.INET, AF.INET6]) {
      for (const sk of inetSockets(family, IPPROTO.TCP, { states: CONNECTED_STATES }).values()) {
        if (held.has(sk.ino)) conns.push(lockedOf(sk));
      }
    }
    const fresh = conns.filter((c) => !this.#locked.has(connectionKey(c)));
    this.#lock.add(fresh);
    for (const c of fresh) this.#locked.add(connectionKey(c));
    return fresh.length;
  }

  /**
   * Puts the socket `fd` (the driver's copy of the task's fd) of connection `conn` in repair mode
   * and reads its state; locks it first if `lockTree` did not. The socket stays in repair mode
   * until `resume()` or `handOver()`.
   */
  checkpoint(fd: number, conn: LockedConnection): TcpConnectionState {
    if (this.#done) throw new Error('the TCP connections of this dump were already let go');
    if (!this.#locked.has(connectionKey(conn))) {
      this.#lock.add([conn]);
      this.#locked.add(connectionKey(conn));
    }
    const own = fcntl(fd, F.DUPFD_CLOEXEC, { arg: 0, what: `keep the socket of ${describeConnection(conn)}` });
    setRepair(own, true);
    this.#repaired.push({ fd: own, conn });
    return saveConnection(own);
  }

  /** Leaves repair mode on every socket and releases the lock: the connections carry on. */
  resume(): void {
    if (this.#done) return;
    this.#done = true;
    const errors: unknown[] = [];
    for (const { fd } of this.#repaired) {
      try {
        setRepair(fd, false);
      } catch (err) {
        errors.push(err);
      }
      close(fd);
    }
    this.#repaired.length = 0;
    this.#lock.release();
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Closes the driver's copies while the sockets are still in repair mode (nothing is sent) and
   * keeps the lock for the restore, which unlocks the run id. With no connection at all, there is
   * nothing to keep and the lock is released.
   */
  handOver(): void {
    if (this.#done) return;
    this.#done = true;
    for (const { fd } of this.#repaired) close(fd);
    if (this.#repaired.length === 0) this.#lock.release();
    this.#repaired.length = 0;
  }
}

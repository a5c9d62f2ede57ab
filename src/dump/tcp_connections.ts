/**
 * Established TCP connections during a dump (`--tcp-established`), from the network lock to the
 * end of the dump:
 *
 *   1. `open()`, before anything is frozen: the lock's nftables table is created, empty, so that a
 *      machine without nftables fails the dump while the tree still runs untouched.
 *   2. `checkpoint()`, for each connection the fd dump meets: its packets are dropped (elements
 *      added to the lock), the socket is put in repair mode and its state and queues are read.
 *      A copy of the socket is kept, so repair mode can be left again.
 *   3. At the end, one of:
 *      - `resume()` (`--leave-running`, `--leave-stopped`, or a failed dump): repair mode off on
 *        every socket, then the lock released; the connections go on, their peers saw a pause;
 *      - `handOver()` (the tree is killed): the sockets are closed while still in repair mode,
 *        which sends nothing, and the lock stays until the restore drops it (the table is named
 *        after the dump's run id, which inventory.img keeps).
 */
import { describeConnection, NetworkLock, type LockedConnection } from '../net/network_lock.js';
import { saveConnection, setRepair, type TcpConnectionState } from '../net/tcp_repair.js';
import { F, close, fcntl } from '../sys/index.js';

export class TcpConnections {
  readonly runId: string;
  readonly #lock: NetworkLock;
  /** The driver's copies of the sockets in repair mode, with what they are. */
  readonly #repaired: Array<{ fd: number; conn: LockedConnection }> = [];
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

  /**
   * Locks `conn`, puts the socket `fd` (the driver's copy of the task's fd) in repair mode and
   * reads its state. The socket stays in repair mode until `resume()` or `handOver()`.
   */
  checkpoint(fd: number, conn: LockedConnection): TcpConnectionState {
    if (this.#done) throw new Error('the TCP connections of this dump were already let go');
    this.#lock.add([conn]);
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

/**
 * The driver's side of a task's files: every file description the images name is opened (or
 * created) here once, before any task exists, so that a file that cannot be opened stops the
 * restore before it starts. Tasks take copies with pidfd_getfd (src/restore/files/install.ts).
 */
import { FdTypes, type FownEntry } from '../../images/generated/types.js';
import { ImageError } from '../../images/errors.js';
import { F, fcntl, syscall } from '../../sys/index.js';
import { RestoreError } from '../errors.js';
import type { RestorePlan } from '../plan.js';
import { EVENTPOLL_OPENER, SIGNALFD_OPENER, TIMERFD_OPENER } from './anon_kinds.js';
import { closeOpened, EVENTFD_OPENER, PIPE_OPENER } from './basic_kinds.js';
import { GHOST_AWARE_REG_OPENER } from './ghost.js';
import { FIFO_OPENER } from './fifo.js';
import { INET_OPENER } from './inet.js';
import { INOTIFY_OPENER } from './inotify.js';
import { TTY_OPENER } from './tty.js';
import { setReuseAddr } from './sk_opts.js';
import { MEMFD_OPENER } from './memfd.js';
import { UNIXSK_OPENER } from './unix_sk.js';
import { NETLINKSK_OPENER } from './netlink_sk.js';
import { PACKETSK_OPENER } from './packet_sk.js';
import type { FileKindOpener, FileRestoreOptions, OpenContext } from './kind.js';
import { resumeConnection } from '../../net/tcp_repair.js';
import { readSingle } from '../../images/typed.js';

const OPENERS: ReadonlyMap<number, FileKindOpener> = new Map([
  [FdTypes.REG, GHOST_AWARE_REG_OPENER],
  [FdTypes.PIPE, PIPE_OPENER],
  [FdTypes.EVENTFD, EVENTFD_OPENER],
  [FdTypes.SIGNALFD, SIGNALFD_OPENER],
  [FdTypes.TIMERFD, TIMERFD_OPENER],
  [FdTypes.EVENTPOLL, EVENTPOLL_OPENER],
  [FdTypes.FIFO, FIFO_OPENER],
  [FdTypes.MEMFD, MEMFD_OPENER],
  [FdTypes.UNIXSK, UNIXSK_OPENER],
  [FdTypes.INOTIFY, INOTIFY_OPENER],
  [FdTypes.TTY, TTY_OPENER],
  [FdTypes.INETSK, INET_OPENER],
  [FdTypes.PACKETSK, PACKETSK_OPENER],
  [FdTypes.NETLINKSK, NETLINKSK_OPENER],
]);

/** The files of a restore, open in the driver. */
export class DriverFiles {
  readonly #ctx: OpenContext;
  readonly #byId = new Map<number, number>();

  private constructor(plan: RestorePlan, options: FileRestoreOptions) {
    this.#ctx = {
      plan,
      pipes: new Map(),
      pipeEnds: new Set(),
      fifos: new Map(),
      memfds: new Map(),
      opened: [],
      options,
      tcpClosedInImages: readSingle(plan.images, 'inventory').tcp_close ?? false,
      repaired: [],
    };
  }

  /** Opens every file any task has open (in pstree order, fds in order); closes all on failure. */
  static openAll(plan: RestorePlan, options: FileRestoreOptions = {}): DriverFiles {
    const files = new DriverFiles(plan, options);
    try {
      for (const task of plan.tasks) {
        for (const fd of task.fds ?? []) files.#open(fd.id, task.pid, fd.fd);
      }
    } catch (err) {
      files.close();
      throw err;
    }
    return files;
  }

  #open(id: number, pid: number, fdNum: number): void {
    if (this.#byId.has(id)) return;
    const entry = this.#ctx.plan.files.get(id)!;
    const opener = OPENERS.get(entry.type);
    if (opener === undefined) throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${pid}, fd ${fdNum}: file ${id} of type ${entry.type} cannot be opened`, { pid, image: 'files.img' });
    try {
      this.#byId.set(id, opener.open(entry, this.#ctx));
    } catch (err) {
      // Image errors name their file and say what is wrong; openers add the task and fd.
      if (err instanceof RestoreError || err instanceof ImageError) throw err;
      throw new RestoreError('RESTORE_FAILED', `Task ${pid}, fd ${fdNum}: cannot open file ${id} (${opener.kind}): ${(err as Error).message}`, { pid, image: 'files.img', step: 'open its files', cause: err });
    }
  }

  /**
   * `fcntl(fd, F_SETOWN_EX, {type, pid})` and `fcntl(fd, F_SETSIG, sig)` for every file that had
   * an owner (who gets SIGIO): once the tree exists, since the owner is one of its tasks.
   * `hostPid` turns a PID of the images into this machine's (they differ with --unshare pid).
   */
  setOwners(hostPid: (pid: number) => number = (pid) => pid): void {
    for (const [id, fd] of this.#byId) {
      const entry = this.#ctx.plan.files.get(id)!;
      const fown = Object.values(entry).find((v): v is { fown: FownEntry } => typeof v === 'object' && v !== null && 'fown' in v)?.fown;
      if (fown === undefined || (fown.pid === 0 && fown.signum === 0)) continue;
      if (fown.pid !== 0) syscall('fcntl', fd, F.SETOWN_EX, Int32Array.of(fown.pid_type, hostPid(fown.pid)));
      if (fown.signum !== 0) fcntl(fd, F.SETSIG, { arg: fown.signum, what: `set the signal of file ${id}` });
    }
  }

  /**
   * Takes every TCP connection out of repair mode (the never-sent data goes out then), once the
   * whole tree is back and just before it runs. Returns how many there were.
   */
  resumeConnections(): number {
    for (const c of this.#ctx.repaired) {
      try {
        resumeConnection(c.fd, c.saved);
        setReuseAddr(c.fd, c.reuseAddr, c.what);
      } catch (err) {
        throw new RestoreError('RESTORE_FAILED', `cannot resume ${c.what}: ${(err as Error).message}`, { step: 'resume TCP connections', cause: err });
      }
    }
    const n = this.#ctx.repaired.length;
    this.#ctx.repaired.length = 0;
    return n;
  }

  /** The driver's fd of file `id`. */
  fd(id: number): number {
    const fd = this.#byId.get(id);
    if (fd === undefined) throw new Error(`File ${id} was not opened`);
    return fd;
  }

  /** Closes every fd of the driver's. */
  close(): void {
    closeOpened(this.#ctx);
    this.#byId.clear();
  }
}

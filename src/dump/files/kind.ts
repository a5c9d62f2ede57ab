/**
 * One kind of open file, as the fd dump sees it: how to recognise it from /proc, and how to turn
 * one open file description of that kind into a files.img entry (plus any side images).
 */
import type { BigIntStats } from 'node:fs';
import { CriuTsError } from '../../errors.js';
import type { FownEntry } from '../../images/generated/types.js';
import type { FdInfo } from '../../proc/index.js';
import type { PipeData } from './pipe.js';
import type { FileKind, FileTable } from './table.js';
import type { TypedKey, buildImage } from '../../images/typed.js';
import type { ImageDirWriter } from '../../images/image_dir.js';
import type { ShmemDumpState } from '../shmem.js';
import type { TcpConnections } from '../tcp_connections.js';

/**
 * Why an fd could not be dumped: FD_UNSUPPORTED (a kind or shape criu-ts does not dump),
 * FD_GONE (it vanished under us), FD_FAILED (reading it failed), FD_TARGET_MISSING (an epoll
 * target or a watched inode that cannot be found), FD_TOO_BIG (over a limit such as the ghost
 * limit), FD_SHELL_JOB (a terminal whose other end is outside the tree, without --shell-job).
 */
export type FdDumpErrorCode = 'FD_UNSUPPORTED' | 'FD_GONE' | 'FD_FAILED' | 'FD_TARGET_MISSING' | 'FD_TOO_BIG' | 'FD_SHELL_JOB';

export class FdDumpError extends CriuTsError {
  constructor(code: FdDumpErrorCode, pid: number, fd: number, what: string) {
    super(code, `task ${pid}, fd ${fd}: ${what}`);
  }
}

/** What the fds of all dumped tasks share: the files table, side data, descriptions seen. */
export interface FdDumpContext {
  files: FileTable;
  pipeData: PipeData[];
  /** pipe ids whose buffered data was already taken */
  pipesPeeked: Set<number>;
  /** open file descriptions seen so far, by (dev, ino), with one fd that names each */
  seen: Map<string, Array<{ pid: number; fd: number; id: number }>>;
  /**
   * Images a kind wants written besides files.img, by image kind (e.g. 'skQueues' for queued
   * socket data, 'eventpollTfd'), entries in order; written once the whole tree is dumped.
   */
  extra: Map<TypedKey, Array<Parameters<typeof buildImage>[1][number]>>;
  options: FdDumpOptions;
  /**
   * Checks that need every task's fds (a pty slave's master is in the tree, ...), added by kinds
   * as they go and run by finishFds() once the whole tree is dumped.
   */
  checks: Array<() => void>;
}

/** What the fd dump is told by its caller. */
export interface FdDumpOptions {
  /** `--shell-job`: one terminal whose other end is outside the tree (the shell's) is allowed. */
  shellJob?: boolean;
  /** The largest ghost file (deleted but open) carried, in allocated bytes (CRIU's `--ghost-limit`). */
  ghostLimit?: bigint;
  /**
   * Where kinds write images of their own as they go (ghost-file-N.img, memfd pages); the kinds
   * that need it refuse their fds without it.
   */
  writer?: ImageDirWriter;
  /** The shared-memory segments dumped so far and the pages-N.img counter (memfd contents). */
  shmem?: ShmemDumpState;
  /** `--ext-unix-sk`: a Unix datagram socket may keep a named peer outside the tree. */
  extUnixSk?: boolean;
  /** The id the dump gives the dumper's network namespace (ids-PID.img); sockets carry it. */
  netNsId?: number;
  /**
   * Connected TCP sockets: `--tcp-established` gives the dump's TcpConnections (lock, repair,
   * tcp-stream images; needs `writer`), `--tcp-close` gives 'close' (recorded, restored closed);
   * absent, they are refused.
   */
  tcp?: TcpConnections | 'close';
  /** `--skip-in-flight`: a listener's connections not accepted yet are let go, not refused. */
  skipInFlight?: boolean;
}

/** Everything known of one fd when its kind handles it. */
export interface FdFacts {
  pid: number;
  fd: number;
  /** The /proc/PID/fd/N link text: a path, `pipe:[N]`, `socket:[N]`, `anon_inode:[eventfd]`. */
  link: string;
  info: FdInfo;
  /** stat() through /proc/PID/fd/N (follows to the file, pipe or socket inode). */
  stat: BigIntStats;
  /** Open flags without O_CLOEXEC. */
  flags: number;
  /** A copy of the fd in the driver (pidfd_getfd), valid while `dump` runs. */
  local: number;
  fown: FownEntry;
  /** Where the driver can open the same file: `/proc/PID/fd/N`. */
  procPath: string;
}

export interface FdKindHandler {
  /** The fd_types name this kind writes (files.img type and fdinfo type). */
  kind: FileKind;
  /** Whether this handler takes the fd (first match wins, in registry order). */
  matches(link: string, stat: BigIntStats): boolean;
  /** Registers the open file description; returns its file id. */
  dump(facts: FdFacts, ctx: FdDumpContext): number;
}

/** A kind recognised but not dumped yet: a clear FD_UNSUPPORTED before anything changes. */
export function unsupportedKind(kind: FileKind, matches: FdKindHandler['matches'], why: (link: string) => string): FdKindHandler {
  return {
    kind,
    matches,
    dump(facts) {
      throw new FdDumpError('FD_UNSUPPORTED', facts.pid, facts.fd, why(facts.link));
    },
  };
}

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

export class FdDumpError extends CriuTsError {
  constructor(code: 'FD_UNSUPPORTED' | 'FD_GONE' | 'FD_FAILED', pid: number, fd: number, what: string) {
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

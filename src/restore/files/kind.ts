/**
 * One kind of open file, as restore sees it: how to open (or create) its open file description in
 * the driver, from its files.img entry, so that the task can take a copy with `pidfd_getfd`.
 */
import type { FileEntry } from '../../images/generated/types.js';
import type { RestorePlan } from '../plan.js';

/** What the openers of a restore share. */
export interface OpenContext {
  plan: RestorePlan;
  /** Pipes created so far, by pipe_id: [read end, write end] in the driver. */
  pipes: Map<number, [number, number]>;
  /** Ends of pipes already handed to one file id, by `pipe_id:access` (a second id reopens). */
  pipeEnds: Set<string>;
  /** Fifos opened so far, by pipe_id: the O_RDWR fd that keeps each alive with its data. */
  fifos: Map<number, number>;
  /** memfd inodes made so far, by inode_id. */
  memfds: Map<number, number>;
  /** Every fd the driver opened (closed at the end, or on failure). */
  opened: number[];
}

export interface FileKindOpener {
  /** The fd_types name this kind restores. */
  kind: string;
  /** Opens the file description of `entry` in the driver; returns its fd there. */
  open(entry: FileEntry, ctx: OpenContext): number;
}

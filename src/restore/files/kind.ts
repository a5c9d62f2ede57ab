/**
 * One kind of open file, as restore sees it: how to open (or create) its open file description in
 * the driver, from its files.img entry, so that the task can take a copy with `pidfd_getfd`.
 */
import type { FileEntry } from '../../images/generated/types.js';
import type { TcpConnectionState } from '../../net/tcp_repair.js';
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
  options: FileRestoreOptions;
  /** inventory.img says the dump was made with --tcp-close: connections come back closed. */
  tcpClosedInImages: boolean;
  /**
   * TCP connections rebuilt in repair mode (src/restore/files/inet.ts), resumed once the whole
   * tree is back; closed before that (a failed restore), they vanish without a packet.
   */
  repaired: Array<{ fd: number; saved: TcpConnectionState; what: string; reuseAddr: boolean }>;
}

/** What the caller of a restore decides about its files. */
export interface FileRestoreOptions {
  /** `--tcp-established`: TCP connections rebuilt; `--tcp-close`: restored closed; unset: refused. */
  tcp?: 'established' | 'close';
  /** Where openers say what they did otherwise than the image says (a netlink port id given up). */
  log?: (message: string) => void;
  /** `--ext-unix-sk`: a Unix socket whose peer is outside the tree is connected to it again by name. */
  extUnixSk?: boolean;
  /** `--shell-job`: the terminal of the shell the tree came from is the one criu-ts runs on. */
  shellJob?: boolean;
}

export interface FileKindOpener {
  /** The fd_types name this kind restores. */
  kind: string;
  /** Opens the file description of `entry` in the driver; returns its fd there. */
  open(entry: FileEntry, ctx: OpenContext): number;
}

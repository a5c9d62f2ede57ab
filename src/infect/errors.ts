/**
 * Errors of the parasite's driver. `code` is stable and is what callers and tests match on:
 *
 * - `INFECT_UNSUPPORTED_ARCH`: there is no parasite blob for this architecture.
 * - `PARASITE_FAULT`: the parasite stopped with a signal (a crash, or a stop we cannot follow);
 *   the task was put back (registers, FPU state, mask) before the error was thrown.
 * - `PARASITE_TIMEOUT`: the parasite did not connect or answer in time.
 * - `PARASITE_GONE`: the control socket closed under us (the parasite left).
 * - `PARASITE_PROTOCOL`: a reply of the wrong size, command or sequence number.
 * - `PARASITE_COMMAND`: a command failed inside the task (`errno`, `errnoName` and `index`, the entry
 *   it is about, say what).
 * - `PARASITE_CURED`: the parasite was already taken out.
 *
 * Our own ptrace failures stay `PtraceError`s (`TASK_DIED`, ...) and failed calls `SysError`s.
 */

import { CriuTsError } from '../errors.js';
import { errnoName } from '../sys/index.js';

/** The stable codes of {@link InfectError}. */
export type InfectErrorCode =
  | 'INFECT_UNSUPPORTED_ARCH'
  | 'PARASITE_FAULT'
  | 'PARASITE_TIMEOUT'
  | 'PARASITE_GONE'
  | 'PARASITE_PROTOCOL'
  | 'PARASITE_COMMAND'
  | 'PARASITE_CURED';

/** What an {@link InfectError} is made of. */
export interface InfectErrorInit {
  /** The thread the error is about. */
  tid: number;
  pid?: number;
  /** The command, by name (`'MEMORY'`). */
  command?: string;
  /** The task's errno, for `PARASITE_COMMAND`. */
  errno?: number;
  /** The entry (range, fd position, signal) a failed command is about. */
  index?: number;
  /** The signal that stopped the parasite, for `PARASITE_FAULT`. */
  signal?: number;
  cause?: unknown;
}

/** An error of the parasite's driver, naming the task and the command. */
export class InfectError extends CriuTsError {
  declare readonly code: InfectErrorCode;
  readonly tid: number;
  readonly pid: number | undefined;
  readonly command: string | undefined;
  readonly errno: number | undefined;
  /** The errno's name (`'EFAULT'`), when there is one. */
  readonly errnoName: string | undefined;
  readonly index: number | undefined;
  readonly signal: number | undefined;

  constructor(code: InfectErrorCode, message: string, init: InfectErrorInit) {
    super(code, message, init.cause === undefined ? undefined : { cause: init.cause });
    this.tid = init.tid;
    this.pid = init.pid;
    this.command = init.command;
    this.errno = init.errno;
    this.errnoName = init.errno === undefined ? undefined : errnoName(init.errno);
    this.index = init.index;
    this.signal = init.signal;
  }
}

/** True when `err` is an {@link InfectError}, with that code if one is given. */
export function isInfectError(err: unknown, code?: InfectErrorCode): err is InfectError {
  return err instanceof InfectError && (code === undefined || err.code === code);
}

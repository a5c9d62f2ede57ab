/**
 * Errors of restore. `code` is stable and is what callers and tests match on:
 *
 * - `PID_TAKEN`: a PID or TID the tree needs is in use on this machine (`pid` names it, the
 *   message names the task that needs it).
 * - `FILE_MISSING`: a file the images name (an open file, a mapped file, cwd, root) is not there.
 * - `FILE_CHANGED`: a regular file's size is not the size the image says (CRIU's check).
 * - `NETDEV_MISSING`: a network interface the images name (a packet socket's, by index) is not in
 *   this network namespace.
 * - `RESTORE_UNSUPPORTED`: the images hold something this restore cannot bring back yet (a kind
 *   of file, a timer, a shared mm); found before any task is created.
 * - `VDSO_MISMATCH`: the image's vDSO or its data pages do not have this kernel's sizes.
 * - `RESTORE_FAILED`: a step failed once tasks existed; `pid`, `image` and `step` say where, and
 *   `cause` holds the error that stopped it (every task created was killed and reaped).
 * - `RESTORE_INTERRUPTED`: a signal asked the restore to stop; nothing was left behind.
 *
 * Bad images keep their own `IMG_*` codes ({@link ImageError}), thrown before anything starts.
 */
import { CriuTsError } from '../errors.js';

export type RestoreErrorCode = 'PID_TAKEN' | 'FILE_MISSING' | 'FILE_CHANGED' | 'NETDEV_MISSING' | 'RESTORE_UNSUPPORTED' | 'VDSO_MISMATCH' | 'RESTORE_FAILED' | 'RESTORE_INTERRUPTED';

/** Where a restore error happened. */
export interface RestoreErrorInit {
  /** The task (its pid in the images) the error is about. */
  pid?: number;
  /** The image file involved, by name (`mm-42.img`). */
  image?: string;
  /** The step that failed (`create the tree`, `restore memory`, ...). */
  step?: string;
  /** A file the error is about. */
  path?: string;
  cause?: unknown;
}

/** An error of restore, naming the task, the image and the cause. */
export class RestoreError extends CriuTsError {
  declare readonly code: RestoreErrorCode;
  readonly pid: number | undefined;
  readonly image: string | undefined;
  readonly step: string | undefined;
  readonly path: string | undefined;

  constructor(code: RestoreErrorCode, message: string, init: RestoreErrorInit = {}) {
    super(code, message, init.cause === undefined ? undefined : { cause: init.cause });
    this.pid = init.pid;
    this.image = init.image;
    this.step = init.step;
    this.path = init.path;
  }
}

/** True when `err` is a {@link RestoreError}, with that code if one is given. */
export function isRestoreError(err: unknown, code?: RestoreErrorCode): err is RestoreError {
  return err instanceof RestoreError && (code === undefined || err.code === code);
}

/**
 * Wraps the error that stopped a step in a `RESTORE_FAILED` naming the task, the image and the
 * step; the cause's code is kept in the message (`[REMOTE_SYSCALL_FAILED]`).
 */
export function stepFailed(err: unknown, where: { pid: number; step: string; image?: string }): RestoreError {
  if (err instanceof RestoreError) return err;
  const cause = err instanceof Error ? err.message : String(err);
  const code = err instanceof CriuTsError ? ` [${err.code}]` : '';
  const image = where.image === undefined ? '' : ` (image ${where.image})`;
  return new RestoreError('RESTORE_FAILED', `Restore of task ${where.pid} failed to ${where.step}${image}: ${cause}${code}`, { ...where, cause: err });
}

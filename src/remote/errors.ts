/**
 * Errors of remote syscalls. A syscall that ran in the task and failed there is a
 * {@link RemoteSyscallError} (`REMOTE_SYSCALL_FAILED`, with the errno name in `errnoName`): it is
 * the task's answer, not ours. Our own failures stay apart: a ptrace request that failed is a
 * `SysError`, a task that died under us is a `PtraceError` with code `TASK_DIED`, and the rest is a
 * {@link RemoteError}:
 *
 * - `NO_SYSCALL_SITE`: the task has no private executable mapping to run a syscall from.
 * - `UNEXPECTED_STOP`: the task stopped somewhere else than after our trap (a fault, a wrong site).
 * - `REMOTE_CLOSED`: the RemoteSyscalls scope was already closed.
 * - `SCOPE_OPEN`: a second scope was opened on a tracee that has one open.
 */

import { CriuTsError } from '../errors.js';
import { errnoDescription, errnoName } from '../sys/index.js';

/** The stable codes of {@link RemoteError}. */
export type RemoteErrorCode = 'NO_SYSCALL_SITE' | 'UNEXPECTED_STOP' | 'REMOTE_CLOSED' | 'SCOPE_OPEN';

/** A failure of the remote-syscall machinery (not of the syscall itself). */
export class RemoteError extends CriuTsError {
  declare readonly code: RemoteErrorCode;
  readonly tid: number;

  constructor(code: RemoteErrorCode, message: string, init: { tid: number; cause?: unknown }) {
    super(code, message, init.cause === undefined ? undefined : { cause: init.cause });
    this.tid = init.tid;
  }
}

/** A syscall that ran inside the task and returned `-errno`. */
export class RemoteSyscallError extends CriuTsError {
  declare readonly code: 'REMOTE_SYSCALL_FAILED';
  /** The syscall's name (`'close'`) or `syscall_<nr>`. */
  readonly syscall: string;
  readonly nr: number;
  /** The positive errno and its name (`'EBADF'`). */
  readonly errno: number;
  readonly errnoName: string;
  readonly tid: number;
  readonly args: readonly bigint[];

  constructor(init: { syscall: string; nr: number; errno: number; tid: number; args: readonly bigint[]; taskName: string }) {
    const name = errnoName(init.errno);
    const call = `${init.syscall}(${init.args.map(formatArg).join(', ')})`;
    super('REMOTE_SYSCALL_FAILED', `Remote ${call} in ${init.taskName} failed: ${name} (${errnoDescription(init.errno)})`);
    this.syscall = init.syscall;
    this.nr = init.nr;
    this.errno = init.errno;
    this.errnoName = name;
    this.tid = init.tid;
    this.args = init.args;
  }
}

function formatArg(a: bigint): string {
  const signed = BigInt.asIntN(64, a);
  return signed >= -4096n && signed <= 65536n ? String(signed) : `0x${BigInt.asUintN(64, a).toString(16)}`;
}

/** True when `err` is a {@link RemoteSyscallError}, with that errno name if one is given. */
export function isRemoteSyscallError(err: unknown, errnoName?: string): err is RemoteSyscallError {
  return err instanceof RemoteSyscallError && (errnoName === undefined || err.errnoName === errnoName);
}

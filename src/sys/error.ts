import { CriuTsError } from '../errors.js';
import { errnoDescription, errnoName } from './errno.js';

/**
 * What a caller tells a system call wrapper about itself, so that a failure says what was being
 * done: `{ what: 'seize task 123' }`. Every wrapper's options object extends this.
 */
export interface SysContext {
  /** A short phrase naming the caller's intent, e.g. `'seize task 123'` or `'open pages-1.img'`. */
  what?: string;
}

/** Everything a {@link SysError} is made from. */
export interface SysErrorInit {
  /** The system call (or libc function) that failed, e.g. `'ptrace'`. */
  syscall: string;
  /** The positive errno number. */
  errno: number;
  /** The task the call was about, when there is one. */
  pid?: number;
  /** The path the call was about, when there is one. */
  path?: string;
  /** The caller's intent (see {@link SysContext}). */
  what?: string;
  /** The call written out for people, e.g. `'ptrace(PTRACE_SEIZE, 123)'`; defaults to `syscall()`. */
  call?: string;
}

/**
 * A failed system call. `code` is the errno name (`'ESRCH'`) and never changes for a given failure;
 * tests and callers match on it. The message says what the caller was doing, which call failed and why.
 */
export class SysError extends CriuTsError {
  readonly syscall: string;
  readonly errno: number;
  readonly pid: number | undefined;
  readonly path: string | undefined;
  readonly what: string | undefined;

  constructor(init: SysErrorInit) {
    const code = errnoName(init.errno);
    super(code, formatMessage(code, init));
    this.syscall = init.syscall;
    this.errno = init.errno;
    this.pid = init.pid;
    this.path = init.path;
    this.what = init.what;
  }
}

function formatMessage(code: string, init: SysErrorInit): string {
  const call = init.call ?? `${init.syscall}()`;
  const where: string[] = [];
  if (init.pid !== undefined) where.push(`pid ${init.pid}`);
  if (init.path !== undefined) where.push(`path ${JSON.stringify(init.path)}`);
  const suffix = where.length > 0 ? ` [${where.join(', ')}]` : '';
  const failure = `${call} failed: ${code} (${errnoDescription(init.errno)})${suffix}`;
  if (init.what === undefined || init.what === '') return failure;
  return `${capitalize(init.what)}: ${failure}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** True when `err` is a {@link SysError}, and, if `code` is given, has that errno name. */
export function isSysError(err: unknown, code?: string): err is SysError {
  return err instanceof SysError && (code === undefined || err.code === code);
}

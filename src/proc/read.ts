/**
 * Reading /proc files, with errors that say which task and file: a task that is gone (exited,
 * or reaped) is `PROC_GONE`; a file whose format we do not understand is `PROC_PARSE`.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { CriuTsError } from '../errors.js';

export type ProcErrorCode = 'PROC_GONE' | 'PROC_PARSE' | 'PROC_ACCESS';

export class ProcError extends CriuTsError {
  readonly pid: number | undefined;
  readonly file: string;

  constructor(code: ProcErrorCode, file: string, what: string, options?: { pid?: number; cause?: unknown }) {
    super(code, `${file}: ${what}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.pid = options?.pid;
    this.file = file;
  }
}

/** The /proc directory of a task or thread: `/proc/PID` or `/proc/PID/task/TID`. */
export function procPath(pid: number, tid?: number): string {
  return tid === undefined || tid === pid ? `/proc/${pid}` : `/proc/${pid}/task/${tid}`;
}

function wrap<T>(file: string, pid: number | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') {
      throw new ProcError('PROC_GONE', file, 'the task is gone', { pid, cause: err });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ProcError('PROC_ACCESS', file, `not allowed to read (${code})`, { pid, cause: err });
    }
    throw err;
  }
}

/** The text of a /proc file. */
export function readProcText(file: string, pid?: number): string {
  return wrap(file, pid, () => readFileSync(file, 'utf8'));
}

/** The raw bytes of a /proc file (auxv, cmdline, environ). */
export function readProcBytes(file: string, pid?: number): Buffer {
  return wrap(file, pid, () => readFileSync(file));
}

/** The names in a /proc directory (task/, fd/, fdinfo/, map_files/). */
export function listProcDir(dir: string, pid?: number): string[] {
  return wrap(dir, pid, () => readdirSync(dir));
}

/** The target of a /proc symlink (fd/N, exe, cwd, root, ns/*, map_files/*). */
export function readProcLink(link: string, pid?: number): string {
  return wrap(link, pid, () => readlinkSync(link));
}

/** Throws PROC_PARSE for `file` unless `ok`. */
export function parseCheck(ok: unknown, file: string, what: string, pid?: number): asserts ok {
  if (!ok) throw new ProcError('PROC_PARSE', file, what, pid === undefined ? undefined : { pid });
}

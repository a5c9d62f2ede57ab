/**
 * A task's open fds: each is matched to its kind (files/kinds.ts), its open file description is
 * registered once in the FileTable (descriptions shared between fds or tasks, found with kcmp,
 * share one id), and its fdinfo_entry says which fd number it has and whether it is
 * close-on-exec.
 */
import { statSync, type BigIntStats } from 'node:fs';
import type { FdinfoEntry } from '../../images/generated/types.js';
import { FdTypes } from '../../images/generated/types.js';
import { listFds, readFdInfo, readFdLink, type FdInfo } from '../../proc/index.js';
import { O, close, pidfdGetfd, pidfdOpen, syscall } from '../../sys/index.js';
import { readFown } from './fown.js';
import { FdDumpError, type FdDumpContext, type FdDumpOptions } from './kind.js';
import { FD_KINDS } from './kinds.js';
import type { FileTable } from './table.js';

export { FdDumpError, type FdDumpContext, type FdDumpOptions } from './kind.js';

export function newFdDumpContext(files: FileTable, options: FdDumpOptions = {}): FdDumpContext {
  return { files, pipeData: [], pipesPeeked: new Set(), seen: new Map(), extra: new Map(), options, checks: [] };
}

/** Runs the checks that need every task's fds (see FdDumpContext.checks); call once all are dumped. */
export function finishFds(ctx: FdDumpContext): void {
  for (const check of ctx.checks.splice(0)) check();
}

const KCMP_FILE = 0;

/** Dumps every fd of task `pid`; returns its fdinfo entries in fd order. */
export function dumpFds(pid: number, ctx: FdDumpContext): FdinfoEntry[] {
  const out: FdinfoEntry[] = [];
  const pidfd = pidfdOpen(pid, { what: `open a pidfd of task ${pid}` });
  try {
    for (const fd of listFds(pid)) out.push(dumpOneFd(pid, pidfd, fd, ctx));
  } finally {
    close(pidfd);
  }
  return out;
}

function dumpOneFd(pid: number, pidfd: number, fd: number, ctx: FdDumpContext): FdinfoEntry {
  let link: string;
  let info: FdInfo;
  let stat: BigIntStats;
  try {
    link = readFdLink(pid, fd);
    info = readFdInfo(pid, fd);
    stat = statSync(`/proc/${pid}/fd/${fd}`, { bigint: true });
  } catch (err) {
    throw new FdDumpError('FD_GONE', pid, fd, `cannot read it: ${(err as Error).message}`);
  }
  const handler = FD_KINDS.find((k) => k.matches(link, stat));
  if (!handler) throw new FdDumpError('FD_UNSUPPORTED', pid, fd, `${link} is not supported yet`);
  const cloexec = (info.flags & O.CLOEXEC) !== 0 ? 1 : 0;
  // The fdinfo type is the type of the entry the fd names (a kind may write several: sockets).
  const typeOf = (id: number): number => ctx.files.get(id)?.type ?? FdTypes[handler.kind];

  // One entry per open file description: another fd (here or in another task) may share it.
  const key = `${stat.dev}:${stat.ino}`;
  const candidates = ctx.seen.get(key) ?? [];
  for (const other of candidates) {
    if (syscall('kcmp', other.pid, pid, KCMP_FILE, other.fd, fd) === 0n) return { id: other.id, flags: cloexec, type: typeOf(other.id), fd };
  }

  const local = pidfdGetfd(pidfd, fd, { what: `take a copy of fd ${fd} of task ${pid}` });
  let id: number;
  try {
    id = handler.dump(
      { pid, fd, link, info, stat, flags: info.flags & ~O.CLOEXEC, local, fown: readFown(local), procPath: `/proc/${pid}/fd/${fd}` },
      ctx,
    );
  } finally {
    close(local);
  }
  candidates.push({ pid, fd, id });
  ctx.seen.set(key, candidates);
  return { id, flags: cloexec, type: typeOf(id), fd };
}

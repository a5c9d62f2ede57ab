/**
 * A task's open fds: each is classified by what /proc says it is, its open file description is
 * registered once in the FileTable (shared descriptions, found with kcmp, share an id), and its
 * fdinfo_entry says which fd number it has and whether it is close-on-exec.
 */
import { statSync, type BigIntStats } from 'node:fs';
import { CriuTsError } from '../../errors.js';
import type { FdinfoEntry } from '../../images/generated/types.js';
import { FdTypes } from '../../images/generated/types.js';
import { listFds, readFdInfo, readFdLink, type FdInfo } from '../../proc/index.js';
import { O, close, pidfdGetfd, pidfdOpen, syscall } from '../../sys/index.js';
import { readFown } from './fown.js';
import { peekPipe, type PipeData } from './pipe.js';
import { regFileEntry } from './reg.js';
import type { FileTable } from './table.js';

export class FdDumpError extends CriuTsError {
  constructor(code: 'FD_UNSUPPORTED' | 'FD_GONE', pid: number, fd: number, what: string) {
    super(code, `task ${pid}, fd ${fd}: ${what}`);
  }
}

/** What the fds of all dumped tasks share: the files, pipe data, and descriptions seen so far. */
export interface FdDumpContext {
  files: FileTable;
  pipeData: PipeData[];
  /** pipe ids whose buffered data was already taken */
  pipesPeeked: Set<number>;
  /** open file descriptions seen so far, by (dev, ino), with one fd that names each */
  seen: Map<string, Array<{ pid: number; fd: number; id: number }>>;
}

export function newFdDumpContext(files: FileTable): FdDumpContext {
  return { files, pipeData: [], pipesPeeked: new Set(), seen: new Map() };
}

const KCMP_FILE = 0;
const O_CLOEXEC = O.CLOEXEC;
const S_IFMT = 0o170000n;

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
  const cloexec = (info.flags & O_CLOEXEC) !== 0 ? 1 : 0;
  const flags = info.flags & ~O_CLOEXEC;
  const kind = classify(pid, fd, link, stat);

  // One entry per open file description: another fd (here or in another task) may share it.
  const candidates = ctx.seen.get(`${stat.dev}:${stat.ino}`) ?? [];
  for (const other of candidates) {
    if (syscall('kcmp', other.pid, pid, KCMP_FILE, other.fd, fd) === 0n) {
      return { id: other.id, flags: cloexec, type: FdTypes[kind], fd };
    }
  }

  const local = pidfdGetfd(pidfd, fd, { what: `take a copy of fd ${fd} of task ${pid}` });
  let id: number;
  try {
    const fown = readFown(local);
    switch (kind) {
      case 'REG':
        id = ctx.files.add('REG', (fid) => ({
          reg: regFileEntry(fid, { path: link, stat, flags, pos: info.pos, fown, openPath: `/proc/${pid}/fd/${fd}` }),
        }));
        break;
      case 'PIPE': {
        const pipeId = Number(stat.ino);
        id = ctx.files.add('PIPE', (fid) => ({ pipe: { id: fid, pipe_id: pipeId, flags, fown } }));
        if (!ctx.pipesPeeked.has(pipeId)) {
          ctx.pipesPeeked.add(pipeId);
          const data = peekPipe(pid, fd, pipeId);
          if (data) ctx.pipeData.push(data);
        }
        break;
      }
      case 'EVENTFD': {
        const count = info.extra.find(([key]) => key === 'eventfd-count')?.[1];
        if (count === undefined) throw new FdDumpError('FD_UNSUPPORTED', pid, fd, 'eventfd without a count in fdinfo');
        id = ctx.files.add('EVENTFD', (fid) => ({ efd: { id: fid, flags, fown, counter: BigInt('0x' + count.trim()) } }));
        break;
      }
      default:
        throw new FdDumpError('FD_UNSUPPORTED', pid, fd, `${link} is not supported yet`);
    }
  } finally {
    close(local);
  }
  candidates.push({ pid, fd, id });
  ctx.seen.set(`${stat.dev}:${stat.ino}`, candidates);
  return { id, flags: cloexec, type: FdTypes[kind], fd };
}

type SupportedKind = 'REG' | 'PIPE' | 'EVENTFD';

/** What an fd is, from its /proc link and stat; throws FD_UNSUPPORTED for kinds not handled yet. */
function classify(pid: number, fd: number, link: string, stat: BigIntStats): SupportedKind {
  const unsupported = (what: string): never => {
    throw new FdDumpError('FD_UNSUPPORTED', pid, fd, what);
  };
  if (link.startsWith('pipe:[')) return 'PIPE';
  if (link === 'anon_inode:[eventfd]') return 'EVENTFD';
  if (link.startsWith('socket:[')) return unsupported(`socket ${link} (sockets are not dumped yet)`);
  if (link.startsWith('anon_inode:')) return unsupported(`${link} is not supported yet`);
  if (!link.startsWith('/')) return unsupported(`${link} is not supported yet`);
  if (link.endsWith(' (deleted)')) return unsupported(`the file ${link} was deleted (ghost files are not dumped yet)`);
  if (link.startsWith('/memfd:')) return unsupported(`memfd ${link} is not supported yet`);
  const type = stat.mode & S_IFMT;
  if (type === 0o010000n) return unsupported(`fifo ${link} is not supported yet`);
  if (type === 0o020000n && /^\/dev\/(pts\/|tty|console)/.test(link)) return unsupported(`terminal ${link} needs --shell-job (not supported yet)`);
  return 'REG';
}


/** /proc/PID/fd and /proc/PID/fdinfo: a task's open files and what the kernel says of each. */
import { listProcDir, parseCheck, readProcLink, readProcText } from './read.js';

export interface FdInfo {
  pos: bigint;
  /** The open flags, octal in the file (O_CLOEXEC included when close-on-exec is set). */
  flags: number;
  mntId: number;
  ino: bigint;
  /** Every other line, in order: `eventfd-count`, `tfd`, `sigmask`, `inotify`, `clockid`, ... */
  extra: Array<[key: string, value: string]>;
}

/** The fds a task has open, ascending. */
export function listFds(pid: number): number[] {
  return listProcDir(`/proc/${pid}/fd`, pid).map(Number).sort((a, b) => a - b);
}

/** What fd N of a task refers to (`/dev/null`, `pipe:[123]`, `socket:[456]`, `anon_inode:[eventfd]`). */
export function readFdLink(pid: number, fd: number): string {
  return readProcLink(`/proc/${pid}/fd/${fd}`, pid);
}

/** `/proc/PID/fdinfo/N`. */
export function readFdInfo(pid: number, fd: number): FdInfo {
  const file = `/proc/${pid}/fdinfo/${fd}`;
  const out: FdInfo = { pos: 0n, flags: 0, mntId: 0, ino: 0n, extra: [] };
  let sawFlags = false;
  for (const line of readProcText(file, pid).split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'pos') out.pos = BigInt(value);
    else if (key === 'flags') {
      out.flags = parseInt(value, 8);
      sawFlags = true;
    } else if (key === 'mnt_id') out.mntId = Number(value);
    else if (key === 'ino') out.ino = BigInt(value);
    else out.extra.push([key, value]);
  }
  parseCheck(sawFlags, file, 'no flags line', pid);
  return out;
}

/** The `key: value` pairs of an fdinfo extra line such as `tfd: 5 events: 19 data: 0 ...`. */
export function fdinfoFields(value: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /(\S+?):\s*(\S+)/g;
  for (let m = re.exec(value); m; m = re.exec(value)) out.set(m[1]!, m[2]!);
  return out;
}

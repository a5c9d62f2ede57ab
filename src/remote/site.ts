/**
 * Where a remote syscall runs: the start of the task's first private executable mapping in
 * /proc/PID/maps (for a normal program, the start of its own text: `_init`, run once at start-up
 * and never again), as CRIU's compel does. Private, because patching a shared mapping would write
 * to its file; not `[vsyscall]`, which cannot be written. The vDSO qualifies too and is the fallback,
 * but the program's text is preferred: a copy-on-write page of a program's text changes nothing a
 * dump looks at, while a private copy of the vDSO would be a vDSO page that is no longer the kernel's.
 */

import { parseMapsLine, readProcText } from '../proc/index.js';
import { RemoteError } from './errors.js';

/**
 * The address at which remote syscalls patch `syscall; int3` into task `pid`. Scans
 * /proc/PID/maps line by line and parses only the lines whose permissions qualify (the first one,
 * nearly always), since a scope pays this once per open.
 */
export function findSyscallSite(pid: number): bigint {
  const text = readProcText(`/proc/${pid}/maps`, pid);
  let vdso: bigint | null = null;
  for (let at = 0; at < text.length; ) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end < 0 ? text.length : end);
    at = end < 0 ? text.length : end + 1;
    // "start-end perms ...": perms are the 4 characters after the first space.
    const sp = line.indexOf(' ');
    if (sp < 0 || line[sp + 3] !== 'x' || line[sp + 4] !== 'p') continue;
    const m = parseMapsLine(line);
    if (m === undefined || m.path === '[vsyscall]') continue;
    if (m.path !== '[vdso]') return m.start;
    vdso ??= m.start;
  }
  if (vdso !== null) return vdso;
  throw new RemoteError('NO_SYSCALL_SITE', `Task ${pid} has no private executable mapping to run a syscall from`, { tid: pid });
}

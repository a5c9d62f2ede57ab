/** A task's threads and children, limits, POSIX timers, auxv and links (exe, cwd, root, ns). */
import { listProcDir, parseCheck, procPath, readProcBytes, readProcLink, readProcText } from './read.js';

/** The thread ids of a process, ascending (the leader's tid is its pid). */
export function listThreads(pid: number): number[] {
  return listProcDir(`/proc/${pid}/task`, pid).map(Number).sort((a, b) => a - b);
}

/** The children of one thread (`/proc/PID/task/TID/children`). */
export function listChildren(pid: number, tid = pid): number[] {
  return readProcText(`/proc/${pid}/task/${tid}/children`, pid).split(' ').filter(Boolean).map(Number);
}

/** Every child of a process: the children of each of its threads. */
export function listProcessChildren(pid: number): number[] {
  const out = new Set<number>();
  for (const tid of listThreads(pid)) {
    try {
      for (const child of listChildren(pid, tid)) out.add(child);
    } catch {
      // A thread that exited between the two reads has no children left to list.
    }
  }
  return [...out].sort((a, b) => a - b);
}

export interface Rlimit {
  /** The resource's name as /proc prints it ("Max open files"). */
  name: string;
  soft: bigint;
  hard: bigint;
}

/** `RLIM_INFINITY` as /proc/PID/limits' "unlimited". */
export const RLIM_INFINITY = (1n << 64n) - 1n;

/** `/proc/PID/limits` in RLIMIT_* order (CPU, FSIZE, DATA, ... RTTIME): no prlimit() needed. */
export function readLimits(pid: number): Rlimit[] {
  const file = `/proc/${pid}/limits`;
  const lines = readProcText(file, pid).split('\n').slice(1).filter(Boolean);
  return lines.map((line) => {
    // "Max open files            1024                 1048576              files"
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)(?:\s+\S+)?\s*$/.exec(line);
    parseCheck(m, file, `unexpected line ${JSON.stringify(line)}`, pid);
    const value = (v: string) => (v === 'unlimited' ? RLIM_INFINITY : BigInt(v));
    return { name: m[1]!, soft: value(m[2]!), hard: value(m[3]!) };
  });
}

export interface PosixTimerInfo {
  id: number;
  signal: number;
  /** The sigevent value (`sival_ptr`). */
  sigevValue: bigint;
  /** How the kernel names the notification: "signal", "thread" (SIGEV_THREAD) or "none". */
  notify: string;
  /** The thread a SIGEV_THREAD_ID timer signals (`notify: signal/tid.N`); undefined for the process (`pid.N`). */
  notifyTid: number | undefined;
  clockId: number;
}

/** `/proc/PID/timers`: the task's POSIX timers (what the parasite then asks timer_gettime of). */
export function readPosixTimers(pid: number): PosixTimerInfo[] {
  const file = `/proc/${pid}/timers`;
  const out: PosixTimerInfo[] = [];
  let current: Partial<PosixTimerInfo> | undefined;
  for (const line of readProcText(file, pid).split('\n')) {
    const [key, value = ''] = line.split(/:\s*/, 2) as [string, string?];
    if (key === 'ID') {
      current = { id: Number(value) };
      out.push(current as PosixTimerInfo);
    } else if (current && key === 'signal') {
      const [sig, ptr] = value.split('/');
      current.signal = Number(sig);
      current.sigevValue = BigInt('0x' + (ptr ?? '0').replace(/^0x/, ''));
    } else if (current && key === 'notify') {
      const [how, target] = value.split('/');
      current.notify = how ?? '';
      current.notifyTid = target?.startsWith('tid.') ? Number(target.slice(4)) : undefined;
    } else if (current && key === 'ClockID') {
      current.clockId = Number(value);
    }
  }
  return out;
}

/** `/proc/PID/auxv` as (type, value) pairs, up to AT_NULL. */
export function readAuxv(pid: number): Array<[bigint, bigint]> {
  const bytes = readProcBytes(`/proc/${pid}/auxv`, pid);
  const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 8));
  const out: Array<[bigint, bigint]> = [];
  for (let i = 0; i + 1 < words.length && words[i] !== 0n; i += 2) out.push([words[i]!, words[i + 1]!]);
  return out;
}

/** A /proc/PID link: `exe`, `cwd`, `root`, or a namespace `ns/net`. */
export function readTaskLink(pid: number, name: string, tid?: number): string {
  return readProcLink(`${procPath(pid, tid)}/${name}`, pid);
}

/** The inode number of a namespace of a task, from its `ns/KIND` link (`net:[4026531840]`). */
export function namespaceId(pid: number, kind: string): bigint {
  const link = readTaskLink(pid, `ns/${kind}`);
  const m = /\[(\d+)\]$/.exec(link);
  parseCheck(m, `/proc/${pid}/ns/${kind}`, `unexpected link ${link}`, pid);
  return BigInt(m[1]!);
}

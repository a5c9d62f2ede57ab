/** /proc/PID/status and /proc/PID/stat: a task's identity, state, credentials and signals. */
import { parseCheck, procPath, readProcText } from './read.js';

export interface ProcStatus {
  name: string;
  /** The state letter: R, S, D, T (stopped), t (tracing stop), Z, X, I. */
  state: string;
  umask: number | undefined;
  tgid: number;
  pid: number;
  ppid: number;
  tracerPid: number;
  /** real, effective, saved, filesystem */
  uids: [number, number, number, number];
  gids: [number, number, number, number];
  groups: number[];
  /** The task's ids in each pid namespace, outermost first. */
  nsPid: number[];
  nsTgid: number[];
  nsPgid: number[];
  nsSid: number[];
  threads: number;
  sigPending: bigint;
  sharedPending: bigint;
  sigBlocked: bigint;
  sigIgnored: bigint;
  sigCaught: bigint;
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp: number;
  seccompFilters: number;
  /** Every key and its raw text, for fields not lifted above. */
  raw: Map<string, string>;
}

const hex = (v: string | undefined) => BigInt('0x' + (v ?? '0'));
const ints = (v: string | undefined) => (v ?? '').trim().split(/\s+/).filter(Boolean).map(Number);

/** `/proc/PID/status` (or a thread's: `/proc/PID/task/TID/status`). */
export function readStatus(pid: number, tid?: number): ProcStatus {
  const file = `${procPath(pid, tid)}/status`;
  const raw = new Map<string, string>();
  for (const line of readProcText(file, pid).split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) raw.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  parseCheck(raw.has('Pid') && raw.has('SigBlk'), file, 'missing Pid or SigBlk', pid);
  const four = (key: string) => {
    const v = ints(raw.get(key));
    parseCheck(v.length === 4, file, `${key} should hold 4 ids`, pid);
    return v as [number, number, number, number];
  };
  return {
    name: raw.get('Name') ?? '',
    state: (raw.get('State') ?? '?')[0]!,
    umask: raw.has('Umask') ? parseInt(raw.get('Umask')!, 8) : undefined,
    tgid: Number(raw.get('Tgid')),
    pid: Number(raw.get('Pid')),
    ppid: Number(raw.get('PPid')),
    tracerPid: Number(raw.get('TracerPid') ?? 0),
    uids: four('Uid'),
    gids: four('Gid'),
    groups: ints(raw.get('Groups')),
    nsPid: ints(raw.get('NSpid')),
    nsTgid: ints(raw.get('NStgid')),
    nsPgid: ints(raw.get('NSpgid')),
    nsSid: ints(raw.get('NSsid')),
    threads: Number(raw.get('Threads') ?? 1),
    sigPending: hex(raw.get('SigPnd')),
    sharedPending: hex(raw.get('ShdPnd')),
    sigBlocked: hex(raw.get('SigBlk')),
    sigIgnored: hex(raw.get('SigIgn')),
    sigCaught: hex(raw.get('SigCgt')),
    capInh: hex(raw.get('CapInh')),
    capPrm: hex(raw.get('CapPrm')),
    capEff: hex(raw.get('CapEff')),
    capBnd: hex(raw.get('CapBnd')),
    capAmb: hex(raw.get('CapAmb')),
    noNewPrivs: raw.get('NoNewPrivs') === '1',
    seccomp: Number(raw.get('Seccomp') ?? 0),
    seccompFilters: Number(raw.get('Seccomp_filters') ?? 0),
    raw,
  };
}

/** The fields of /proc/PID/stat that dump needs (man 5 proc numbers them from 1). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
  /** The controlling terminal (`new_encode_dev`, which is glibc's `makedev` for small numbers), 0 for none. */
  ttyNr: number;
  /** The foreground process group of the controlling terminal, -1 for none. */
  tpgid: number;
  flags: number;
  nice: number;
  numThreads: number;
  startTime: bigint;
  startCode: bigint;
  endCode: bigint;
  startStack: bigint;
  startData: bigint;
  endData: bigint;
  startBrk: bigint;
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
  exitCode: number;
}

/** `/proc/PID/stat` (or a thread's). */
export function readStat(pid: number, tid?: number): ProcStat {
  const file = `${procPath(pid, tid)}/stat`;
  const text = readProcText(file, pid).trimEnd();
  // comm is in parentheses and may itself hold spaces and parentheses: split at the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  parseCheck(open > 0 && close > open, file, 'no (comm)', pid);
  const f = ['', text.slice(0, open - 1), text.slice(open + 1, close), ...text.slice(close + 2).split(' ')];
  parseCheck(f.length >= 53, file, `only ${f.length - 1} fields`, pid);
  const n = (i: number) => Number(f[i]);
  const b = (i: number) => BigInt(f[i]!);
  return {
    pid: n(1), comm: f[2]!, state: f[3]!, ppid: n(4), pgid: n(5), sid: n(6), ttyNr: n(7), tpgid: n(8), flags: n(9),
    nice: n(19), numThreads: n(20), startTime: b(22), startCode: b(26), endCode: b(27), startStack: b(28),
    startData: b(45), endData: b(46), startBrk: b(47), argStart: b(48), argEnd: b(49), envStart: b(50),
    envEnd: b(51), exitCode: n(52),
  };
}

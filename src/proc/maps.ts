/** /proc/PID/maps and /proc/PID/smaps: the task's memory areas. */
import { parseCheck, procPath, readProcText } from './read.js';

export interface MapsEntry {
  start: bigint;
  end: bigint;
  read: boolean;
  write: boolean;
  exec: boolean;
  /** 's' (MAP_SHARED) rather than 'p' (MAP_PRIVATE). */
  shared: boolean;
  /** File offset of `start`. */
  offset: bigint;
  /** Device of the backing file, as "major:minor" numbers. */
  devMajor: number;
  devMinor: number;
  inode: bigint;
  /** The path or pseudo-name (`[stack]`, `[vdso]`, `[heap]`, `[anon:name]`), without " (deleted)". */
  path: string | undefined;
  /** The backing file was unlinked (`(deleted)` after the path). */
  deleted: boolean;
}

/** The smaps extras of an area: its VmFlags (two-letter codes) and how much is resident. */
export interface SmapsEntry extends MapsEntry {
  vmFlags: Set<string>;
  rssKiB: number;
  swapKiB: number;
  anonymousKiB: number;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([sp]) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)(?: +(.*))?$/;

/** Parses one line of /proc/PID/maps; undefined if it is not one. */
export function parseMapsLine(line: string): MapsEntry | undefined {
  const m = MAPS_LINE.exec(line);
  if (!m) return undefined;
  let path: string | undefined = m[11];
  let deleted = false;
  if (path !== undefined && path.endsWith(' (deleted)')) {
    path = path.slice(0, -' (deleted)'.length);
    deleted = true;
  }
  // The kernel escapes a newline in a path as \012 (seq_file's mangle of "\n").
  if (path !== undefined) path = path.replace(/\\012/g, '\n');
  return {
    start: BigInt('0x' + m[1]),
    end: BigInt('0x' + m[2]),
    read: m[3] === 'r',
    write: m[4] === 'w',
    exec: m[5] === 'x',
    shared: m[6] === 's',
    offset: BigInt('0x' + m[7]),
    devMajor: parseInt(m[8]!, 16),
    devMinor: parseInt(m[9]!, 16),
    inode: BigInt(m[10]!),
    path: path === '' ? undefined : path,
    deleted,
  };
}

/** `/proc/PID/maps`, in address order. */
export function readMaps(pid: number, tid?: number): MapsEntry[] {
  const file = `${procPath(pid, tid)}/maps`;
  const text = readProcText(file, pid);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const entry = parseMapsLine(line);
      parseCheck(entry, file, `unexpected line ${JSON.stringify(line)}`, pid);
      return entry;
    });
}

/** `/proc/PID/smaps`: every area with its VmFlags and sizes. */
export function readSmaps(pid: number): SmapsEntry[] {
  const file = `/proc/${pid}/smaps`;
  const out: SmapsEntry[] = [];
  for (const line of readProcText(file, pid).split('\n')) {
    if (line === '') continue;
    const head = parseMapsLine(line);
    if (head) {
      out.push({ ...head, vmFlags: new Set(), rssKiB: 0, swapKiB: 0, anonymousKiB: 0 });
      continue;
    }
    const current = out[out.length - 1];
    parseCheck(current, file, `a field before the first area: ${JSON.stringify(line)}`, pid);
    const [key, rest = ''] = line.split(/:\s*/, 2) as [string, string?];
    if (key === 'VmFlags') rest.trim().split(/\s+/).filter(Boolean).forEach((f) => current.vmFlags.add(f));
    else if (key === 'Rss') current.rssKiB = parseInt(rest, 10);
    else if (key === 'Swap') current.swapKiB = parseInt(rest, 10);
    else if (key === 'Anonymous') current.anonymousKiB = parseInt(rest, 10);
  }
  return out;
}

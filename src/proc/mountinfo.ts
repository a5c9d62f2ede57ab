/** /proc/PID/mountinfo: the mounts a task sees (man 5 proc_pid_mountinfo). */
import { parseCheck, readProcText } from './read.js';

export interface MountInfo {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** The path inside the filesystem that is mounted. */
  root: string;
  mountPoint: string;
  options: string;
  /** shared:N, master:N, propagate_from:N, unbindable */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string;
}

/** Undoes mountinfo's octal escapes (\040 for space, \011 tab, \012 newline, \134 backslash). */
function unescape(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readMountInfo(pid: number): MountInfo[] {
  const file = `/proc/${pid}/mountinfo`;
  return readProcText(file, pid)
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      parseCheck(dash >= 6 && fields.length >= dash + 4, file, `unexpected line ${JSON.stringify(line)}`, pid);
      const [major, minor] = fields[2]!.split(':').map(Number) as [number, number];
      return {
        mountId: Number(fields[0]),
        parentId: Number(fields[1]),
        major,
        minor,
        root: unescape(fields[3]!),
        mountPoint: unescape(fields[4]!),
        options: fields[5]!,
        optional: fields.slice(6, dash),
        fsType: fields[dash + 1]!,
        source: unescape(fields[dash + 2]!),
        superOptions: fields[dash + 3]!,
      };
    });
}

/**
 * The kind-specific lines of /proc/PID/fdinfo/N (the `extra` of {@link FdInfo}), as the kernel
 * prints them: epoll targets (fs/eventpoll.c), the signalfd mask (fs/signalfd.c), the timerfd
 * state (fs/timerfd.c) and inotify watches (fs/notify/fdinfo.c). Every number keeps the base the
 * kernel prints it in: hex for masks, events, data, inode and device numbers.
 */
import type { FdInfo } from './fdinfo.js';
import { parseCheck } from './read.js';

/** Where an fdinfo file is, for error messages. */
export interface FdinfoSource {
  pid: number;
  fd: number;
}

const fileOf = (src: FdinfoSource) => `/proc/${src.pid}/fdinfo/${src.fd}`;

/** One `tfd:` line of an epoll instance: a watched fd and its epoll_event. */
export interface EpollTarget {
  /** The fd number the target had when it was added (EPOLL_CTL_ADD). */
  tfd: number;
  events: number;
  data: bigint;
  /** Since Linux 4.12: the target's file position, inode and superblock device (kernel dev_t). */
  pos?: bigint;
  ino?: bigint;
  sdev?: number;
}

const TFD_LINE = /^(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)(?:\s+pos:\s*(-?\d+)\s+ino:\s*([0-9a-f]+)\s+sdev:\s*([0-9a-f]+))?\s*$/;

/** The targets of an epoll fd, in the order the kernel lists them. */
export function epollTargets(info: FdInfo, src: FdinfoSource): EpollTarget[] {
  const out: EpollTarget[] = [];
  for (const [key, value] of info.extra) {
    if (key !== 'tfd') continue;
    const m = TFD_LINE.exec(value.trim());
    parseCheck(m, fileOf(src), `unexpected tfd line ${JSON.stringify(value)}`, src.pid);
    const target: EpollTarget = { tfd: Number(m[1]), events: parseInt(m[2]!, 16) >>> 0, data: BigInt('0x' + m[3]!) };
    if (m[4] !== undefined) {
      target.pos = BigInt(m[4]);
      target.ino = BigInt('0x' + m[5]!);
      target.sdev = parseInt(m[6]!, 16) >>> 0;
    }
    out.push(target);
  }
  return out;
}

/** The signal mask of a signalfd (`sigmask:`, hex; bit N-1 is signal N). */
export function signalfdMask(info: FdInfo, src: FdinfoSource): bigint {
  const value = lookup(info, 'sigmask', src);
  parseCheck(/^[0-9a-f]+$/.test(value), fileOf(src), `unexpected sigmask ${JSON.stringify(value)}`, src.pid);
  return BigInt('0x' + value);
}

/** A timerfd's state as the kernel shows it (the time left, not the time it was set to). */
export interface TimerfdState {
  clockid: number;
  /** Expirations not read yet. */
  ticks: bigint;
  /** The flags of the last timerfd_settime (TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET). */
  settimeFlags: number;
  /** Time to the next expiration (0, 0 when disarmed). */
  value: { sec: bigint; nsec: bigint };
  interval: { sec: bigint; nsec: bigint };
}

/** The state of a timerfd (`clockid`, `ticks`, `settime flags` in octal, `it_value`, `it_interval`). */
export function timerfdState(info: FdInfo, src: FdinfoSource): TimerfdState {
  const number = (key: string, re: RegExp) => {
    const value = lookup(info, key, src);
    parseCheck(re.test(value), fileOf(src), `unexpected ${key} ${JSON.stringify(value)}`, src.pid);
    return value;
  };
  const pair = (key: string) => {
    const m = /^\((\d+),\s*(\d+)\)$/.exec(lookup(info, key, src));
    parseCheck(m, fileOf(src), `unexpected ${key} ${JSON.stringify(lookup(info, key, src))}`, src.pid);
    return { sec: BigInt(m[1]!), nsec: BigInt(m[2]!) };
  };
  return {
    clockid: Number(number('clockid', /^-?\d+$/)),
    ticks: BigInt(number('ticks', /^\d+$/)),
    settimeFlags: parseInt(number('settime flags', /^[0-7]+$/), 8),
    value: pair('it_value'),
    interval: pair('it_interval'),
  };
}

/** One inotify watch (`inotify wd:...` line). */
export interface InotifyWatch {
  wd: number;
  ino: bigint;
  /** The watched inode's superblock device, in the kernel's encoding (major << 20 | minor). */
  sdev: number;
  mask: number;
  ignoredMask: number;
  /** The inode's file handle; absent when the filesystem cannot encode one. */
  handle?: { bytes: number; type: number; data: Uint8Array };
}

const INOTIFY_LINE =
  /^([0-9a-f]+)\s+ino:([0-9a-f]+)\s+sdev:([0-9a-f]+)\s+mask:([0-9a-f]+)\s+ignored_mask:([0-9a-f]+)(?:\s+fhandle-bytes:([0-9a-f]+)\s+fhandle-type:([0-9a-f]+)\s+f_handle:([0-9a-f]*))?\s*$/;

/** The watches of an inotify fd, in the order the kernel lists them. */
export function inotifyWatches(info: FdInfo, src: FdinfoSource): InotifyWatch[] {
  const out: InotifyWatch[] = [];
  for (const [key, value] of info.extra) {
    if (key !== 'inotify wd') continue;
    const m = INOTIFY_LINE.exec(value.trim());
    parseCheck(m, fileOf(src), `unexpected inotify line ${JSON.stringify(value)}`, src.pid);
    const watch: InotifyWatch = {
      wd: parseInt(m[1]!, 16),
      ino: BigInt('0x' + m[2]!),
      sdev: parseInt(m[3]!, 16) >>> 0,
      mask: parseInt(m[4]!, 16) >>> 0,
      ignoredMask: parseInt(m[5]!, 16) >>> 0,
    };
    if (m[6] !== undefined) {
      const hex = m[8]!;
      parseCheck(hex.length % 2 === 0, fileOf(src), `odd f_handle ${JSON.stringify(hex)}`, src.pid);
      watch.handle = { bytes: parseInt(m[6], 16), type: parseInt(m[7]!, 16), data: Uint8Array.from(Buffer.from(hex, 'hex')) };
    }
    out.push(watch);
  }
  return out;
}

function lookup(info: FdInfo, key: string, src: FdinfoSource): string {
  const found = info.extra.find(([k]) => k === key);
  parseCheck(found, fileOf(src), `no ${key} line`, src.pid);
  return found[1].trim();
}

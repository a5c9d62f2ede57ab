/**
 * Openers of anonymous-inode files made again in the driver: signalfd (its mask), timerfd (its
 * clock, the time left and the interval, its unread expirations) and epoll (the instance; its
 * targets are added by the task itself once its fds are in place: src/restore/files/install.ts).
 */
import { O, syscall } from '../../sys/index.js';
import type { FileKindOpener } from './kind.js';

const SIGSET_BYTES = 8;
/** Flags signalfd, timerfd and epoll_create1 take: O_NONBLOCK and O_CLOEXEC (the driver's copy is always close-on-exec). */
const NONBLOCK = O.NONBLOCK;
const TFD_TIMER_ABSTIME = 1;
/** `TFD_IOC_SET_TICKS`: `_IOW('T', 0, u64)` (CONFIG_CHECKPOINT_RESTORE). */
const TFD_IOC_SET_TICKS = 0x40085400;
const NSEC = 1_000_000_000n;

/** `signalfd4(-1, &mask, 8, flags)`. */
export const SIGNALFD_OPENER: FileKindOpener = {
  kind: 'SIGNALFD',
  open(entry, ctx) {
    const s = entry.sgfd!;
    const fd = Number(syscall('signalfd4', -1, BigUint64Array.of(s.sigmask), SIGSET_BYTES, O.CLOEXEC | (s.flags & NONBLOCK)));
    ctx.opened.push(fd);
    return fd;
  },
};

/**
 * `timerfd_create(clock, flags)`, `timerfd_settime(fd, flags, {interval, left})` (an absolute
 * timer is set at now + the time left on its clock, as CRIU does), and the unread expirations
 * with `ioctl(TFD_IOC_SET_TICKS)`.
 */
export const TIMERFD_OPENER: FileKindOpener = {
  kind: 'TIMERFD',
  open(entry, ctx) {
    const t = entry.tfd!;
    const fd = Number(syscall('timerfd_create', t.clockid, O.CLOEXEC | (t.flags & NONBLOCK)));
    ctx.opened.push(fd);
    let sec = t.vsec;
    let nsec = t.vnsec;
    const armed = sec !== 0n || nsec !== 0n;
    if (armed && (t.settime_flags & TFD_TIMER_ABSTIME) !== 0) {
      const now = new BigInt64Array(2);
      syscall('clock_gettime', t.clockid, now);
      const total = (now[0]! + sec) * NSEC + now[1]! + nsec;
      sec = total / NSEC;
      nsec = total % NSEC;
    }
    if (armed) syscall('timerfd_settime', fd, t.settime_flags, BigInt64Array.of(t.isec, t.insec, sec, nsec), 0);
    if (t.ticks > 0n) syscall('ioctl', fd, TFD_IOC_SET_TICKS, BigUint64Array.of(t.ticks));
    return fd;
  },
};

/** `epoll_create1(EPOLL_CLOEXEC)`: the instance alone. */
export const EVENTPOLL_OPENER: FileKindOpener = {
  kind: 'EVENTPOLL',
  open(_entry, ctx) {
    const fd = Number(syscall('epoll_create1', O.CLOEXEC));
    ctx.opened.push(fd);
    return fd;
  },
};

/**
 * timerfd (`anon_inode:[timerfd]`): clock, unread expirations, the flags of the last settime and
 * the time left to the next expiration with the interval, all from fdinfo (as CRIU takes them).
 */
import { timerfdState } from '../../proc/index.js';
import type { FdKindHandler } from './kind.js';

export const TIMERFD_KIND: FdKindHandler = {
  kind: 'TIMERFD',
  matches: (link) => link === 'anon_inode:[timerfd]',
  dump(f, ctx) {
    const t = timerfdState(f.info, f);
    return ctx.files.add('TIMERFD', (id) => ({
      tfd: {
        id,
        flags: f.flags,
        fown: f.fown,
        clockid: t.clockid,
        ticks: t.ticks,
        settime_flags: t.settimeFlags,
        vsec: t.value.sec,
        vnsec: t.value.nsec,
        isec: t.interval.sec,
        insec: t.interval.nsec,
      },
    }));
  },
};

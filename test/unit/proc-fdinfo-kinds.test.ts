/** The kind-specific fdinfo lines, as kernels print them (old and new formats), and bad ones. */
import { describe, expect, it } from 'vitest';
import { epollTargets, inotifyWatches, signalfdMask, timerfdState, type FdInfo } from '../../src/proc/index.js';

/** An FdInfo whose extra lines are `text`, split at the first colon as readFdInfo splits them. */
function info(text: string): FdInfo {
  const extra = text
    .trim()
    .split('\n')
    .map((l) => /^([^:]+):\s*(.*)$/.exec(l)!)
    .map((m) => [m[1]!, m[2]!] as [string, string]);
  return { pos: 0n, flags: 0o2, mntId: 0, ino: 0n, extra };
}

const src = { pid: 1234, fd: 5 };

describe('fdinfo of fd kinds', () => {
  it('reads epoll targets, with and without the pos/ino/sdev of Linux 4.12+', () => {
    const targets = epollTargets(
      info(`tfd:        5 events:       1c data:                7  pos:0 ino:3b3dd sdev:f
tfd:       14 events: 80000019 data: 1122334455667788  pos:42 ino:1 sdev:fe00000
tfd:        6 events:       19 data:               2a`),
      src,
    );
    expect(targets).toEqual([
      { tfd: 5, events: 0x1c, data: 7n, pos: 0n, ino: 0x3b3ddn, sdev: 0xf },
      { tfd: 14, events: 0x80000019, data: 0x1122334455667788n, pos: 42n, ino: 1n, sdev: 0xfe00000 },
      { tfd: 6, events: 0x19, data: 0x2an },
    ]);
    expect(epollTargets(info('pos:\t0'), src)).toEqual([]); // an epoll watching nothing
  });

  it('reads a signalfd mask and a timerfd (settime flags in octal)', () => {
    expect(signalfdMask(info('sigmask:\t0000000800000200'), src)).toBe(0x800000200n);
    expect(timerfdState(info(`clockid: 7
ticks: 3
settime flags: 03
it_value: (999, 397458535)
it_interval: (2, 500000000)`), src)).toEqual({
      clockid: 7,
      ticks: 3n,
      settimeFlags: 3,
      value: { sec: 999n, nsec: 397458535n },
      interval: { sec: 2n, nsec: 500000000n },
    });
  });

  it('reads inotify watches (wd in hex), their handles, and a watch without one', () => {
    const [a, b] = inotifyWatches(
      info(`inotify wd:1a ino:2e3 sdev:fe00000 mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:e302000000000000
inotify wd:2 ino:3 sdev:6 mask:4 ignored_mask:0 `),
      src,
    );
    expect(a).toEqual({ wd: 0x1a, ino: 0x2e3n, sdev: 0xfe00000, mask: 0x300, ignoredMask: 0, handle: { bytes: 8, type: 1, data: Uint8Array.from([0xe3, 2, 0, 0, 0, 0, 0, 0]) } });
    expect(b).toEqual({ wd: 2, ino: 3n, sdev: 6, mask: 4, ignoredMask: 0 });
  });

  it('says which task and file it could not read', () => {
    const bad = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return { code: (err as { code: string }).code, message: (err as Error).message };
      }
      return undefined;
    };
    expect(bad(() => epollTargets(info('tfd: five events: 1 data: 2'), src))).toEqual({ code: 'PROC_PARSE', message: expect.stringMatching(/^\/proc\/1234\/fdinfo\/5: unexpected tfd line/) });
    expect(bad(() => signalfdMask(info('pos: 0'), src))).toEqual({ code: 'PROC_PARSE', message: '/proc/1234/fdinfo/5: no sigmask line' });
    expect(bad(() => timerfdState(info('clockid: 1\nticks: 0\nsettime flags: 09\nit_value: (0, 0)\nit_interval: (0, 0)'), src))?.code).toBe('PROC_PARSE');
    expect(bad(() => inotifyWatches(info('inotify wd:1 ino:zz'), src))?.code).toBe('PROC_PARSE');
  });
});

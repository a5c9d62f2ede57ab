/** Dumping timerfds: clock, settime flags, unread ticks, interval and time left, against fdinfo. */
import { afterAll, describe, expect, it } from 'vitest';
import { FdTypes } from '../../src/images/generated/types.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, startProgram } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_BOOTTIME = 7;
const TFD_TIMER_ABSTIME = 1;
const TFD_TIMER_CANCEL_ON_SET = 2;
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;

/** The timer lines of fdinfo, read independently of src/proc. */
function fdinfoTimer(pid: number, fd: number) {
  const text = fdinfoText(pid, fd);
  const pair = (key: string) => {
    const m = new RegExp(`^${key}: \\((\\d+), (\\d+)\\)$`, 'm').exec(text)!;
    return BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]!);
  };
  return {
    clockid: Number(/^clockid: (\d+)$/m.exec(text)![1]),
    ticks: BigInt(/^ticks: (\d+)$/m.exec(text)![1]!),
    settime_flags: parseInt(/^settime flags: ([0-7]+)$/m.exec(text)![1]!, 8),
    value: pair('it_value'),
    interval: pair('it_interval'),
  };
}

describe('timerfd dump', () => {
  it('writes each timerfd as fdinfo shows it, the time left between two readings', async () => {
    const target = startProgram('timerfd_state');
    const before = [3, 4, 5].map((fd) => fdinfoTimer(target.pid, fd));
    const dump = await dumpRunning(target.pid);
    const after = [3, 4, 5].map((fd) => fdinfoTimer(target.pid, fd));
    const fds = dump.fds(target.pid);
    expect([3, 4, 5].map((fd) => fds.get(fd)!.type)).toEqual([FdTypes.TIMERFD, FdTypes.TIMERFD, FdTypes.TIMERFD]);
    expect(fds.get(3)!.flags).toBe(1);

    const want = [
      { fd: 3, flags: O_RDWR | O_NONBLOCK, clockid: CLOCK_MONOTONIC, settime_flags: 0, ticks: 0n, isec: 2n, insec: 500_000_000n },
      { fd: 4, flags: O_RDWR, clockid: CLOCK_REALTIME, settime_flags: TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, ticks: 0n, isec: 0n, insec: 0n },
      { fd: 5, flags: O_RDWR | O_NONBLOCK, clockid: CLOCK_BOOTTIME, settime_flags: 0, ticks: 1n, isec: 0n, insec: 0n },
    ];
    want.forEach(({ fd, ...expected }, i) => {
      const file = dump.file(target.pid, fd);
      const t = file.tfd!;
      expect(t).toMatchObject({ id: file.id, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, ...expected });
      // fdinfo agrees on everything but the time left, which runs down while we look.
      expect({ clockid: t.clockid, ticks: t.ticks, settime_flags: t.settime_flags, interval: t.isec * 1_000_000_000n + t.insec }).toEqual({
        clockid: before[i]!.clockid,
        ticks: before[i]!.ticks,
        settime_flags: before[i]!.settime_flags,
        interval: before[i]!.interval,
      });
      const left = t.vsec * 1_000_000_000n + t.vnsec;
      expect(left <= before[i]!.value && left >= after[i]!.value).toBe(true);
    });
    // The expired one-shot timer is disarmed, the others are not.
    expect(dump.file(target.pid, 5).tfd!).toMatchObject({ vsec: 0n, vnsec: 0n });
    expect(dump.file(target.pid, 3).tfd!.vsec).toBeGreaterThan(900n);
    expect(dump.file(target.pid, 4).tfd!.vsec).toBeGreaterThan(4000n);

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+)\.img$/).get('files.img')!;
    const critFd4 = crit.entries.find((e) => e['id'] === dump.file(target.pid, 4).id) as { tfd: { clockid: number; settime_flags: string } };
    expect(critFd4.tfd.clockid).toBe(CLOCK_REALTIME);
    expect(Number(critFd4.tfd.settime_flags)).toBe(3);

    expectPass(target);
  });
});

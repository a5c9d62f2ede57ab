/** Dumping signalfds: the mask each was made with, as the program and fdinfo say. */
import { afterAll, describe, expect, it } from 'vitest';
import { FdTypes } from '../../src/images/generated/types.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, startProgram } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;

describe('signalfd dump', () => {
  it('writes each signalfd with its mask and flags', async () => {
    const target = startProgram('signalfd_state');
    const [, maskA, maskB] = target.waitOutput(/masks ([0-9a-f]+) ([0-9a-f]+)/);
    const dump = await dumpRunning(target.pid);
    const fds = dump.fds(target.pid);
    expect(fds.get(3)).toMatchObject({ type: FdTypes.SIGNALFD, flags: 1 });
    expect(fds.get(4)).toMatchObject({ type: FdTypes.SIGNALFD, flags: 0 });

    for (const [fd, mask, flags] of [[3, maskA!, O_RDWR | O_NONBLOCK], [4, maskB!, O_RDWR]] as const) {
      const file = dump.file(target.pid, fd);
      expect(file.sgfd).toEqual({ id: file.id, flags, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, sigmask: BigInt('0x' + mask) });
      // fdinfo says the same.
      expect(file.sgfd!.sigmask).toBe(BigInt('0x' + /^sigmask:\s+([0-9a-f]+)$/m.exec(fdinfoText(target.pid, fd))![1]));
    }
    // SIGUSR1 (10) and SIGRTMIN+3 (37) on fd 3.
    expect(dump.file(target.pid, 3).sgfd!.sigmask).toBe((1n << 9n) | (1n << 36n));

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+)\.img$/).get('files.img')!;
    const critFd3 = crit.entries.find((e) => e['id'] === dump.file(target.pid, 3).id) as { sgfd: { sigmask: string } };
    expect(BigInt(critFd3.sgfd.sigmask)).toBe(BigInt('0x' + maskA));

    expectPass(target);
  });
});

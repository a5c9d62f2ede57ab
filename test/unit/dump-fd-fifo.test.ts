/** Dumping fifos: a fifo entry per open file, the path it was opened through, and its buffered data. */
import { mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FdTypes } from '../../src/images/generated/types.js';
import { readEntries, readEntriesWithExtra } from '../../src/images/typed.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, kdev, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, makeFifo, startProgram, workDir } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const O_CLOEXEC = 0o2000000;
const REMAP_GHOST = 1;

describe('fifo dump', () => {
  it('writes each open fifo with its path, and the bytes buffered in it once', async () => {
    const fifo = makeFifo('dump');
    const gone = join(mkdtempSync(join(workDir(), 'fifo-')), 'gone.fifo');
    const target = startProgram('fifo_state', { args: [fifo, gone] });
    const ino = statSync(fifo, { bigint: true }).ino;
    const goneStat = statSync(`/proc/${target.pid}/fd/5`, { bigint: true });
    const flagsOf = (fd: number) => parseInt(/^flags:\s+([0-7]+)$/m.exec(fdinfoText(target.pid, fd))![1]!, 8) & ~O_CLOEXEC;
    const dump = await dumpRunning(target.pid);
    const fds = dump.fds(target.pid);
    expect([3, 4, 5].map((fd) => fds.get(fd)!.type)).toEqual([FdTypes.FIFO, FdTypes.FIFO, FdTypes.FIFO]);

    for (const fd of [3, 4]) {
      const file = dump.file(target.pid, fd);
      expect(file.fifo).toEqual({ id: file.id, pipe_id: Number(ino), regf_id: expect.any(Number) });
      // The path, flags and mode go in the reg entry the fifo points at.
      const reg = dump.byId(file.fifo!.regf_id!);
      expect(reg.type).toBe(FdTypes.REG);
      expect(reg.reg).toMatchObject({ name: fifo, flags: flagsOf(fd), pos: 0n, mode: Number(statSync(fifo).mode) });
      expect(reg.reg!.size).toBeUndefined();
    }
    expect(dump.file(target.pid, 3).id).not.toBe(dump.file(target.pid, 4).id);

    // The buffered bytes, once for the fifo, as the task wrote them.
    const data = readEntriesWithExtra(dump.images, 'fifoData');
    expect(data).toHaveLength(1);
    expect(data[0]!.entry).toEqual({ pipe_id: Number(ino), bytes: 13, size: 65536 });
    expect(Buffer.from(data[0]!.extra as Uint8Array).toString()).toBe('fifo data 123');

    // The deleted fifo: its reg entry under the old name, remapped to a ghost with no contents.
    const goneFile = dump.file(target.pid, 5);
    const goneReg = dump.byId(goneFile.fifo!.regf_id!).reg!;
    expect(goneReg.name).toBe(gone);
    expect(readEntries(dump.images, 'remapFpath')).toEqual([{ orig_id: goneReg.id, remap_id: 1, remap_type: REMAP_GHOST }]);
    const ghost = dump.images.readKind('ghostFile', 1).entries;
    expect(ghost).toHaveLength(1);
    expect(ghost[0]!.message).toMatchObject({ mode: Number(goneStat.mode), dev: kdev(goneStat.dev), ino: goneStat.ino });
    expect((ghost[0]!.extra as Uint8Array).length).toBe(0); // no contents after the entry

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+|fifo-data|remap-fpath|ghost-file-1)\.img$/);
    expect(crit.get('fifo-data.img')!.entries).toHaveLength(1);

    // The task still has its bytes.
    expectPass(target);
  });
});

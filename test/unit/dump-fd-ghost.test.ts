/** Dumping files deleted while open: the reg entries, their remaps, and the ghost images' contents. */
import { mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpTree } from '../../src/dump/dump.js';
import { FdTypes } from '../../src/images/generated/types.js';
import { readEntries } from '../../src/images/typed.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, kdev, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, startProgram, workDir } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const O_CLOEXEC = 0o2000000;
const REMAP_GHOST = 1;
const pat = (off: number) => (off * 13 + 1) & 0xff;

describe('ghost file dump', () => {
  it('writes deleted files under their old names, remapped to ghost images with their contents', async () => {
    const dir = mkdtempSync(join(workDir(), 'ghost-'));
    const target = startProgram('ghost_state', { args: [dir] });
    target.waitOutput(/^ready$/m);
    const extents = [...target.out().matchAll(/^extent (\d+) (\d+)$/gm)].map((m) => ({ off: BigInt(m[1]!), len: BigInt(m[2]!) }));
    const st = new Map([3, 4, 5, 6].map((fd) => [fd, statSync(`/proc/${target.pid}/fd/${fd}`, { bigint: true })]));
    const flagsOf = (fd: number) => parseInt(/^flags:\s+([0-7]+)$/m.exec(fdinfoText(target.pid, fd))![1]!, 8) & ~O_CLOEXEC;
    const dump = await dumpRunning(target.pid);
    const fds = dump.fds(target.pid);
    expect([3, 4, 5, 6].map((fd) => fds.get(fd)!.type)).toEqual(Array(4).fill(FdTypes.REG));

    // The reg entries keep the names the files had, without " (deleted)".
    const reg = (fd: number) => dump.file(target.pid, fd).reg!;
    expect(reg(3)).toMatchObject({ name: join(dir, 'small'), flags: flagsOf(3), pos: 7n, size: 100n, mode: 0o100640 });
    expect(reg(4)).toMatchObject({ name: join(dir, 'small'), flags: flagsOf(4), pos: 0n, size: 100n });
    expect(reg(5)).toMatchObject({ name: join(dir, 'big'), flags: flagsOf(5), size: 1n << 20n, mode: 0o100600 });
    expect(reg(6)).toMatchObject({ name: join(dir, 'gone-dir'), mode: 0o40750 });
    expect(reg(3).id).not.toBe(reg(4).id);

    // One ghost per inode, one remap per open file.
    const remaps = readEntries(dump.images, 'remapFpath');
    expect(remaps).toEqual([
      { orig_id: reg(3).id, remap_id: 1, remap_type: REMAP_GHOST },
      { orig_id: reg(4).id, remap_id: 1, remap_type: REMAP_GHOST },
      { orig_id: reg(5).id, remap_id: 2, remap_type: REMAP_GHOST },
      { orig_id: reg(6).id, remap_id: 3, remap_type: REMAP_GHOST },
    ]);

    const ghost = (id: number) => dump.images.readKind('ghostFile', id).entries;
    const head = (fd: number) => {
      const s = st.get(fd)!;
      return {
        uid: 0,
        gid: 0,
        mode: Number(s.mode),
        dev: kdev(s.dev),
        ino: s.ino,
        atim: { tv_sec: s.atimeNs / 1_000_000_000n, tv_usec: (s.atimeNs % 1_000_000_000n) / 1000n },
        mtim: { tv_sec: s.mtimeNs / 1_000_000_000n, tv_usec: (s.mtimeNs % 1_000_000_000n) / 1000n },
      };
    };
    // A small file: whole, after its entry.
    const [small] = ghost(1);
    expect(small!.message).toEqual(head(3));
    expect([...(small!.extra as Uint8Array)]).toEqual(Array.from({ length: 100 }, (_, i) => pat(i)));
    // A big sparse file: its data extents (as SEEK_DATA finds them) as chunks.
    const [bigHead, ...chunks] = ghost(2);
    expect(bigHead!.message).toEqual({ ...head(5), chunks: true, size: 1n << 20n });
    expect(chunks.map((c) => c.message)).toEqual(extents);
    for (const c of chunks) {
      const { off, len } = c.message as { off: bigint; len: bigint };
      const want = Array.from({ length: Number(len) }, (_, i) => {
        const at = Number(off) + i;
        return at < 5000 || (at >= 200000 && at < 203000) ? pat(at) : 0;
      });
      expect([...(c.extra as Uint8Array)]).toEqual(want);
    }
    // A directory: no contents.
    expect(ghost(3)).toEqual([{ type: 'ghost_file_entry', message: head(6), extra: new Uint8Array(0) }]);

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+|remap-fpath|ghost-file-[0-9a-f]+)\.img$/);
    expect(crit.get('remap-fpath.img')!.entries).toHaveLength(4);
    expect(crit.get('ghost-file-2.img')!.entries.length).toBe(1 + extents.length);

    expectPass(target);
  });

  it('refuses a deleted file over the ghost limit, naming the task and fd', async () => {
    const dir = mkdtempSync(join(workDir(), 'ghost-'));
    const target = startProgram('ghost_state', { args: [dir, 'toobig'] });
    target.waitOutput(/^ready$/m);
    let error: unknown;
    try {
      await dumpTree(target.pid, { imagesDir: join(dir, 'images'), after: 'leave-running' });
    } catch (err) {
      error = err;
    }
    expect((error as { code: string }).code).toBe('FD_TOO_BIG');
    expect((error as Error).message).toMatch(new RegExp(`^task ${target.pid}, fd 7: the deleted file ${join(dir, 'huge')} \\(deleted\\) holds \\d+ bytes, over the ghost limit of 1048576`));
    expectPass(target);
  });
});

/** Dumping inotify fds: every watch with its inode, mask, device, file handle and path. */
import { lstatSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpTree } from '../../src/dump/dump.js';
import { FdTypes } from '../../src/images/generated/types.js';
import { nameToHandleAt } from '../../src/sys/index.js';
import { decodeWithBothCrits, dumpRunning, expectPass, fdinfoText, kdev, removeDumps } from '../support/fd_dump.js';
import { killAllPrograms, startProgram, workDir } from '../support/programs.js';

afterAll(() => {
  killAllPrograms();
  removeDumps();
});

const AT_FDCWD = -100;
const IN_MODIFY = 0x2;
const IN_ATTRIB = 0x4;
const IN_CLOSE_WRITE = 0x8;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;

/** The watch lines of fdinfo, read independently of src/proc. */
function fdinfoWatches(pid: number, fd: number) {
  const re = /^inotify wd:([0-9a-f]+) ino:([0-9a-f]+) sdev:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:([0-9a-f]+) fhandle-bytes:([0-9a-f]+) fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+)$/gm;
  return [...fdinfoText(pid, fd).matchAll(re)].map((m) => ({
    wd: parseInt(m[1]!, 16),
    i_ino: BigInt('0x' + m[2]),
    s_dev: parseInt(m[3]!, 16),
    mask: parseInt(m[4]!, 16),
    ignored_mask: parseInt(m[5]!, 16),
    bytes: parseInt(m[6]!, 16),
    type: parseInt(m[7]!, 16),
    handle: Buffer.from(m[8]!, 'hex'),
  }));
}

/** fh_entry.handle: the handle bytes as 16 little-endian u64 words. */
function words(handle: Uint8Array): bigint[] {
  const raw = Buffer.alloc(128);
  raw.set(handle);
  return Array.from({ length: 16 }, (_, i) => raw.readBigUInt64LE(i * 8));
}

describe('inotify dump', () => {
  it('writes every watch with its inode, mask, device, handle and the path that leads to it', async () => {
    const dir = mkdtempSync(join(workDir(), 'inotify-'));
    const target = startProgram('inotify_state', { args: [dir] });
    const out = target.waitOutput(/wd \d+ \/dev\/null/) && target.out();
    const wdOf = new Map([...out.matchAll(/^wd (\d+) (.+)$/gm)].map((m) => [m[2]!, Number(m[1])]));
    const masks = new Map([
      [join(dir, 'watched'), IN_CREATE | IN_DELETE],
      [join(dir, 'watched', 'file'), IN_MODIFY | IN_CLOSE_WRITE],
      ['/dev/null', IN_ATTRIB],
    ]);
    const before = fdinfoWatches(target.pid, 3);
    const dump = await dumpRunning(target.pid);
    expect(dump.fds(target.pid).get(3)).toMatchObject({ type: FdTypes.INOTIFY, flags: 1 });
    const file = dump.file(target.pid, 3);
    expect(file.type).toBe(FdTypes.INOTIFY);
    const ify = file.ify!;
    expect({ id: ify.id, flags: ify.flags, fown: ify.fown }).toEqual({ id: file.id, flags: 0o4000, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 } });
    expect(ify.wd).toHaveLength(3);
    // fdinfo's order and fields.
    expect(ify.wd!.map((w) => ({ wd: w.wd, i_ino: w.i_ino, s_dev: w.s_dev, mask: w.mask, ignored_mask: w.ignored_mask }))).toEqual(
      before.map(({ wd, i_ino, s_dev, mask, ignored_mask }) => ({ wd, i_ino, s_dev, mask, ignored_mask })),
    );
    for (const [path, mask] of masks) {
      const w = ify.wd!.find((e) => e.wd === wdOf.get(path))!;
      const st = lstatSync(path, { bigint: true });
      // What the program watched, as stat() and name_to_handle_at() tell it.
      expect({ id: w.id, i_ino: w.i_ino, s_dev: w.s_dev, mask: w.mask, ignored_mask: w.ignored_mask, path: w.f_handle.path }).toEqual({
        id: file.id,
        i_ino: st.ino,
        s_dev: kdev(st.dev),
        mask,
        ignored_mask: 0,
        path,
      });
      const fromFdinfo = before.find((b) => b.wd === w.wd)!;
      expect({ bytes: w.f_handle.bytes, type: w.f_handle.type, handle: w.f_handle.handle }).toEqual({
        bytes: fromFdinfo.bytes,
        type: fromFdinfo.type,
        handle: words(fromFdinfo.handle),
      });
      if (path !== '/dev/null') {
        const h = nameToHandleAt(AT_FDCWD, path);
        expect({ type: w.f_handle.type, handle: w.f_handle.handle }).toEqual({ type: h.type, handle: words(h.bytes) });
      }
    }

    const crit = decodeWithBothCrits(dump.dir, /^(files|fdinfo-\d+)\.img$/).get('files.img')!;
    const critIfy = crit.entries.find((e) => e['id'] === file.id) as { ify: { wd: Array<{ wd: number; f_handle: { path: string } }> } };
    expect(critIfy.ify.wd.map((w) => [w.wd, w.f_handle.path])).toEqual(ify.wd!.map((w) => [w.wd, w.f_handle.path]));

    expectPass(target);
  });

  it('refuses a watch on a deleted tmpfs file, naming the task and fd', async () => {
    const dir = mkdtempSync(join(workDir(), 'inotify-'));
    const target = startProgram('inotify_state', { args: [dir, 'deleted'] });
    const wd = target.waitOutput(/wd (\d+) \/dev\/shm\//)[1];
    let error: unknown;
    try {
      await dumpTree(target.pid, { imagesDir: join(dir, 'images'), after: 'leave-running' });
    } catch (err) {
      error = err;
    }
    expect((error as { code: string }).code).toBe('FD_TARGET_MISSING');
    expect((error as Error).message).toMatch(new RegExp(`^task ${target.pid}, fd 3: inotify watch ${wd} .*no path leads to it, and tmpfs inodes`));
    expectPass(target);
  });
});

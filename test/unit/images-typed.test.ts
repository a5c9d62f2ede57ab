import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageDir, ImageDirWriter } from '../../src/images/image_dir.js';
import {
  pagemapEntryPages, readEntries, readEntriesWithExtra, readPagemap, readSingle, writeEntries, writePagemap, writeSingle,
} from '../../src/images/typed.js';
import { CONFORMANCE_DIR } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'criu-ts-typed-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('typed image access', () => {
  const dir = ImageDir.open(join(CONFORMANCE_DIR, 'python-state', 'images'));

  it('reads CRIU 4.2 images as typed entries', () => {
    const [task] = readEntries(dir, 'pstree');
    expect(task!.threads).toEqual([15368, 15370]);
    const core = readSingle(dir, 'core', 15368);
    expect(core.tc?.comm).toBe('python3');
    expect(core.thread_info?.gpregs.ip).toBe(0x7f4c3afa7543n);
    const mm = readSingle(dir, 'mm', 15368);
    expect(mm.vmas?.length).toBeGreaterThan(10);
    const pagemap = readPagemap(dir, 15368);
    expect(pagemap.head.pages_id).toBe(1);
    expect(pagemapEntryPages(pagemap.entries[1]!)).toBe(98n);
    const [pipe] = readEntriesWithExtra(dir, 'pipesData');
    expect(Buffer.from(pipe!.extra as Uint8Array).toString()).toBe('pipe-data-before-dump\n');
  });

  it('falls back to the 3.17 page count when nr_pages is absent', () => {
    expect(pagemapEntryPages({ vaddr: 0n, compat_nr_pages: 7 })).toBe(7n);
  });

  it('writes typed entries that read back the same', () => {
    const out = join(work, 'dump');
    const writer = ImageDirWriter.create(out);
    writeSingle(writer, 'inventory', undefined, { img_version: 2, fdinfo_per_id: true });
    writeEntries(writer, 'pstree', undefined, [{ pid: 10, ppid: 0, pgid: 10, sid: 10, threads: [10] }]);
    writeEntries(writer, 'pipesData', undefined, [{ entry: { pipe_id: 3, bytes: 2 }, extra: new Uint8Array([104, 105]) }]);
    writePagemap(writer, 10, { head: { pages_id: 1 }, entries: [{ vaddr: 0x1000n, compat_nr_pages: 2, nr_pages: 2n, flags: 4 }] });
    writer.commit();
    const back = ImageDir.open(out);
    expect(readSingle(back, 'inventory')).toEqual({ img_version: 2, fdinfo_per_id: true });
    expect(readEntries(back, 'pstree')).toEqual([{ pid: 10, ppid: 0, pgid: 10, sid: 10, threads: [10] }]);
    expect(readEntriesWithExtra(back, 'pipesData')[0]!.extra).toEqual(new Uint8Array([104, 105]));
    expect(readPagemap(back, 10).entries).toEqual([{ vaddr: 0x1000n, compat_nr_pages: 2, nr_pages: 2n, flags: 4 }]);
  });
});

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageDir, ImageDirWriter, removeStaleStaging } from '../../src/images/image_dir.js';
import { imageFileKind, imageFileName } from '../../src/images/image_files.js';
import type { Image } from '../../src/images/framing.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'criu-ts-imgdir-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const inventory: Image = {
  magic: 'INVENTORY',
  entries: [{ type: 'inventory_entry', message: { img_version: 2, fdinfo_per_id: true, ns_per_id: true } }],
};
const fs: Image = { magic: 'FS', entries: [{ type: 'fs_entry', message: { cwd_id: 1, root_id: 2, umask: 0o22 } }] };

describe('image file names', () => {
  it("fills CRIU's templates", () => {
    expect(imageFileName('core', 42)).toBe('core-42.img');
    expect(imageFileName('tcpStream', 0x60eb9)).toBe('tcp-stream-60eb9.img');
    expect(imageFileName('stats', 'dump')).toBe('stats-dump');
    expect(imageFileName('inventory')).toBe('inventory.img');
  });

  it('recognises a file by its name', () => {
    expect(imageFileKind('core-15368.img')).toEqual({ key: 'core', arg: '15368' });
    expect(imageFileKind('pagemap-shmem-77.img')).toEqual({ key: 'shmemPagemap', arg: '77' });
    expect(imageFileKind('pages-3.img')).toEqual({ key: 'pages', arg: '3' });
    expect(imageFileKind('tcp-stream-60eba.img')).toEqual({ key: 'tcpStream', arg: '60eba' });
    expect(imageFileKind('dump.log')).toBeUndefined();
  });
});

describe('ImageDir', () => {
  it('stages a dump and lands it with the inventory last', () => {
    const dir = tempDir();
    const writer = ImageDirWriter.create(dir);
    writer.writeKind('fs', 7, fs);
    expect(existsSync(join(dir, 'fs-7.img'))).toBe(false);
    expect(() => ImageDir.open(dir)).toThrow(expect.objectContaining({ code: 'IMG_MISSING' }));
    writer.writeKind('inventory', undefined, inventory);
    writer.commit();
    expect(readdirSync(dir).sort()).toEqual(['fs-7.img', 'inventory.img']);
    const read = ImageDir.open(dir);
    expect(read.readKind('fs', 7)).toEqual(fs);
    expect(read.readOptional('core', 7)).toBeUndefined();
    expect(() => read.readKind('core', 7)).toThrow(expect.objectContaining({ code: 'IMG_MISSING' }));
  });

  it('leaves the directory as it was when a dump is aborted', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'dump.log'), 'log');
    const writer = ImageDirWriter.create(dir);
    writer.writeKind('fs', 1, fs);
    const pages = writer.openRaw('pages-1.img');
    expect(pages).toBeGreaterThan(2);
    writer.abort();
    expect(readdirSync(dir)).toEqual(['dump.log']);
  });

  it('replaces an earlier dump so that it never looks finished halfway', () => {
    const dir = tempDir();
    const first = ImageDirWriter.create(dir);
    first.writeKind('inventory', undefined, inventory);
    first.commit();
    const second = ImageDirWriter.create(dir);
    second.writeKind('inventory', undefined, inventory);
    second.writeKind('fs', 2, fs);
    expect(() => first.commit()).toThrow(/already committed/);
    second.commit();
    expect(ImageDir.open(dir).list().map((f) => f.fileName)).toEqual(['fs-2.img', 'inventory.img']);
  });

  it('refuses to commit without an inventory, and cleans stale staging', () => {
    const dir = tempDir();
    const writer = ImageDirWriter.create(dir);
    writer.writeKind('fs', 1, fs);
    expect(() => writer.commit()).toThrow(/without its inventory/);
    expect(removeStaleStaging(dir)).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('names a missing or non-directory path', () => {
    expect(() => ImageDir.open('/nonexistent/criu-ts')).toThrow(expect.objectContaining({ code: 'IMG_DIR' }));
  });
});

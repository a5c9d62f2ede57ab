// The restore plan and the checks before any task exists: the conformance sets load with their
// runs of pages; bad images are refused with their IMG_* code naming the file; what restore does
// not do yet is RESTORE_UNSUPPORTED naming the task and the image; a PID in use is PID_TAKEN and a
// file of another size FILE_CHANGED, both naming what they are about. Plus the pure helpers: the
// bootstrap's gap, the runs clipped around the vDSO, the vDSO plan.
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { buildImage } from '../../src/images/typed.js';
import { bootstrapLayout, findGap } from '../../src/restore/bootstrap.js';
import { checkFiles, checkPidsFree } from '../../src/restore/checks.js';
import { clip } from '../../src/restore/mm.js';
import { loadPlan } from '../../src/restore/plan.js';
import { planVdso } from '../../src/restore/vdso.js';
import { CONFORMANCE_DIR } from '../support/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-restore-plan-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let copies = 0;

function copySet(set: string): string {
  const dir = join(scratch, `${set}-${++copies}`);
  cpSync(join(CONFORMANCE_DIR, set, 'images'), dir, { recursive: true });
  return dir;
}

const load = (dir: string) => loadPlan(dir, { arch: 'x86_64', pageSize: 4096 });

function editImage(file: string, edit: (entries: Array<{ message: Record<string, unknown> }>) => void): void {
  const image = decodeImage(readFileSync(file));
  edit(image.entries as Array<{ message: Record<string, unknown> }>);
  writeFileSync(file, encodeImage(image));
}

describe('restore plan', () => {
  it('loads the conformance sets: tasks in pstree order, threads, runs of pages at their offsets', () => {
    const plan = load(copySet('sleep'));
    expect(plan.tasks.map((t) => t.pid)).toEqual([15349]);
    const task = plan.root;
    expect(task.threads.map((t) => t.tid)).toEqual([15349]);
    expect(task.mm!.vmas!.length).toBe(36);
    const runs = task.pages!.runs;
    expect(runs[0]).toEqual({ addr: 0x55be3c1a1000n, len: 4096n, offset: 0n });
    expect(runs[1]!.offset).toBe(4096n);
    expect(runs.reduce((n, r) => n + r.len, 0n)).toBe(118784n);
    expect(task.fds!.map((f) => f.fd)).toEqual([0, 1, 2, 10, 251]);

    const pipeline = load(copySet('pipeline'));
    expect(pipeline.tasks.map((t) => [t.pid, t.ppid])).toEqual([[15396, 0], [15398, 15396], [15399, 15396], [15407, 15399]]);
    expect(pipeline.byPid.get(15396)!.children).toEqual([15398, 15399]);
    expect(pipeline.pipeData.get(397044)!.byteLength).toBe(65400);
  });

  it('refuses a truncated pages image (IMG_TRUNCATED) and one too long (IMG_TRAILING_BYTES)', () => {
    const dir = copySet('sleep');
    truncateSync(join(dir, 'pages-1.img'), 118784 - 4096);
    expect(() => load(dir)).toThrow(expect.objectContaining({ code: 'IMG_TRUNCATED', message: expect.stringMatching(/pages-1\.img.*needs 118784 bytes of pages, the file has 114688/) }));
    writeFileSync(join(dir, 'pages-1.img'), Buffer.alloc(118784 + 4096));
    expect(() => load(dir)).toThrow(expect.objectContaining({ code: 'IMG_TRAILING_BYTES' }));
  });

  it('refuses a corrupted, truncated, missing or foreign core or mm image with its IMG_* code', () => {
    const bad = copySet('sleep');
    const core = readFileSync(join(bad, 'core-15349.img'));
    core[0] ^= 0xff;
    writeFileSync(join(bad, 'core-15349.img'), core);
    expect(() => load(bad)).toThrow(expect.objectContaining({ code: 'IMG_BAD_MAGIC', message: expect.stringContaining('core-15349.img') }));

    const cut = copySet('sleep');
    truncateSync(join(cut, 'mm-15349.img'), 100);
    expect(() => load(cut)).toThrow(expect.objectContaining({ code: 'IMG_TRUNCATED', message: expect.stringContaining('mm-15349.img') }));

    const gone = copySet('sleep');
    rmSync(join(gone, 'fs-15349.img'));
    expect(() => load(gone)).toThrow(expect.objectContaining({ code: 'IMG_MISSING' }));

    const foreign = copySet('sleep');
    editImage(join(foreign, 'core-15349.img'), (entries) => {
      entries[0]!.message['mtype'] = 3; // AARCH64
    });
    expect(() => load(foreign)).toThrow(expect.objectContaining({ code: 'IMG_WRONG_ARCH', message: expect.stringMatching(/dumped on AARCH64, this machine is X86_64/) }));
  });

  it('refuses what is not restored yet before anything starts, naming the task and the image', () => {
    const incremental = copySet('sleep');
    editImage(join(incremental, 'pagemap-15349.img'), (entries) => {
      entries[1]!.message['flags'] = 1; // PE_PARENT: the pages are in a parent image
    });
    expect(() => load(incremental)).toThrow(expect.objectContaining({ code: 'RESTORE_UNSUPPORTED', image: 'pagemap-15349.img', message: expect.stringMatching(/incremental dumps are not restored yet/) }));
    const ghost = copySet('sleep');
    writeFileSync(join(ghost, 'remap-fpath.img'), encodeImage(buildImage('remapFpath', [{ orig_id: 17, remap_id: 23 }])));
    expect(() => load(ghost)).toThrow(expect.objectContaining({ code: 'RESTORE_UNSUPPORTED', image: 'remap-fpath.img' }));
    const shell = copySet('sleep');
    editImage(join(shell, 'pstree.img'), (entries) => {
      entries[0]!.message['sid'] = 1;
    });
    expect(() => load(shell)).toThrow(expect.objectContaining({ code: 'RESTORE_UNSUPPORTED', message: expect.stringMatching(/job of a shell, restore it with --shell-job/) }));
  });

  it('says which PID is taken and which task needs it', () => {
    const plan = load(copySet('bash-loop'));
    expect(() => checkPidsFree(plan)).not.toThrow();
    plan.tasks[1]!.threads[0]!.tid = process.pid;
    expect(() => checkPidsFree(plan)).toThrow(expect.objectContaining({ code: 'PID_TAKEN', pid: process.pid, message: expect.stringMatching(new RegExp(`^PID ${process.pid} is in use on this machine, and thread ${process.pid} of task 14834 needs it: .*--unshare pid`)) }));
  });

  it('says which file changed size, from what to what, and who needs it', () => {
    const plan = load(copySet('sleep'));
    expect(() => checkFiles(plan)).not.toThrow();
    const file = join(scratch, 'grown');
    writeFileSync(file, 'x'.repeat(100));
    const reg = plan.files.get(17)!.reg!; // fd 0
    Object.assign(reg, { name: file, size: 42n, mode: 0o100644 });
    expect(() => checkFiles(plan)).toThrow(expect.objectContaining({ code: 'FILE_CHANGED', path: file, message: `${file} (fd 0 of task 15349) has size 100, the image says 42` }));
    Object.assign(reg, { name: join(scratch, 'nowhere') });
    expect(() => checkFiles(plan)).toThrow(expect.objectContaining({ code: 'FILE_MISSING' }));
  });
});

describe('restore helpers', () => {
  it('finds the highest gap with room around it, below the ceiling', () => {
    const M = 1n << 21n;
    const ceiling = 0x7ffffffff000n;
    const at = findGap([{ start: 0x7fff00000000n, end: 0x7fff00100000n }], 0x10000n, ceiling);
    expect(at).toBe(ceiling - M - 0x10000n);
    const full = findGap([{ start: ceiling - M, end: ceiling }, { start: 0x7ff000000000n, end: ceiling - M }], 0x10000n, ceiling);
    expect(full + 0x10000n + M <= 0x7ff000000000n).toBe(true);
    expect(() => findGap([{ start: 0n, end: ceiling }], 0x1000n, ceiling)).toThrow(/No room/);
  });

  it('lays the bootstrap out: blob, control, records, data, frames, stack, park; page-sized', () => {
    const l = bootstrapLayout(276, 4096, { records: 100, dataBytes: 5000, frames: 3, frameSize: 2900, frameAlign: 64, parkBytes: 8 * 4096 });
    expect(l.ctl).toBeGreaterThanOrEqual(276);
    expect(l.records).toBeGreaterThanOrEqual(l.ctl + 64);
    expect(l.data).toBeGreaterThanOrEqual(l.records + 100 * 64);
    expect(l.frames % 64).toBe(0);
    expect(l.frames + 3 * l.frameSize).toBeLessThanOrEqual(l.stackTop);
    expect(l.park % 4096).toBe(0);
    expect(l.size).toBe(l.park + 8 * 4096);
  });

  it('clips runs of pages around the vDSO', () => {
    const run = { addr: 0x1000n, len: 0x5000n, offset: 0x10000n };
    expect(clip(run, [{ start: 0x2000n, end: 0x3000n }])).toEqual([
      { addr: 0x1000n, len: 0x1000n, offset: 0x10000n },
      { addr: 0x3000n, len: 0x3000n, offset: 0x12000n },
    ]);
    expect(clip(run, [{ start: 0x0n, end: 0x10000n }])).toEqual([]);
    expect(clip(run, [{ start: 0x8000n, end: 0x9000n }])).toEqual([run]);
  });

  it('moves this kernel\'s vvar, vvar_vclock and vdso to the image\'s merged areas, or says why not', () => {
    const plan = load(copySet('sleep'));
    const vmas = plan.root.mm!.vmas!;
    const m = (start: bigint, end: bigint, path: string) => ({ start, end, path, read: true, write: false, exec: false, shared: false, offset: 0n, devMajor: 0, devMinor: 0, inode: 0n, deleted: false });
    const current = [m(0x10000n, 0x14000n, '[vvar]'), m(0x14000n, 0x16000n, '[vvar_vclock]'), m(0x16000n, 0x18000n, '[vdso]')];
    const v = planVdso(15349, vmas, current);
    expect(v.moves.map((x) => [x.name, x.from, x.parkOffset, x.to])).toEqual([
      ['[vvar]', 0x10000n, 0n, 0x7f8ecbde5000n],
      ['[vvar_vclock]', 0x14000n, 0x4000n, 0x7f8ecbde9000n],
      ['[vdso]', 0x16000n, 0x6000n, 0x7f8ecbdeb000n],
    ]);
    expect(v.parkBytes).toBe(0x8000n);
    expect(() => planVdso(15349, vmas, [current[0]!, current[2]!])).toThrow(expect.objectContaining({ code: 'VDSO_MISMATCH' }));
  });
});

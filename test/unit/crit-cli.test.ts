/**
 * crit-ts against CRIU's crit: the explorers print what Debian's crit prints, decode/encode
 * round-trip through files, and Debian's crit reads what our encoder writes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeImage, type Image } from '../../src/images/framing.js';
import { CONFORMANCE_DIR, CRIT_TS } from '../support/paths.js';

const work = mkdtempSync(join(tmpdir(), 'criu-ts-crit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function critTs(args: string[], input?: Buffer) {
  const res = spawnSync(process.execPath, [CRIT_TS, ...args], { input, maxBuffer: 64 << 20 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr.toString() };
}

const debianCrit = spawnSync('/usr/bin/crit', ['--help']).status === 0 ? '/usr/bin/crit' : undefined;
function crit(args: string[]): string {
  const res = spawnSync(debianCrit!, args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`crit ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

const sets = readdirSync(CONFORMANCE_DIR).filter((d) => !d.endsWith('.md'));

describe('crit-ts command line', () => {
  it('decodes to a file and encodes back to the same bytes', () => {
    const original = join(CONFORMANCE_DIR, 'python-state', 'images', 'files.img');
    const json = join(work, 'files.json');
    const back = join(work, 'files.img');
    expect(critTs(['decode', '-i', original, '-o', json, '--pretty']).status).toBe(0);
    expect(critTs(['encode', '-i', json, '-o', back]).status).toBe(0);
    expect(readFileSync(back).equals(readFileSync(original))).toBe(true);
  });

  it('encodes from stdin to stdout (non-pretty JSON)', () => {
    const original = readFileSync(join(CONFORMANCE_DIR, 'sleep', 'images', 'mm-15349.img'));
    const decoded = critTs(['decode'], original);
    expect(decoded.status).toBe(0);
    expect(decoded.stdout.toString()).toMatch(/^\{"magic": "MM", "entries": \[\{"mm_start_code": \d+,/);
    const encoded = critTs(['encode'], decoded.stdout);
    expect(encoded.status).toBe(0);
    expect(encoded.stdout.equals(original)).toBe(true);
  });

  it('show --nopl replaces extra data by its size', () => {
    const out = critTs(['show', join(CONFORMANCE_DIR, 'python-state', 'images', 'pipes-data.img'), '--nopl']);
    expect(out.stdout.toString()).toContain('"extra": "... <22B>"');
  });

  it('fails with a clear message and code on a raw pages file', () => {
    const out = critTs(['decode', '-i', join(CONFORMANCE_DIR, 'sleep', 'images', 'pages-1.img')]);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/pages-1\.img at offset 0: unknown magic 0x[0-9a-f]+ .*\[IMG_BAD_MAGIC\]/);
  });

  it('fails on JSON that is not an image, and on an unknown command', () => {
    const out = critTs(['encode'], Buffer.from('{"magic": "CORE", "entries": [{"nope": 1}]}'));
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/core_entry has no field 'nope' \[IMG_BAD_JSON\]/);
    expect(critTs(['frobnicate']).status).toBe(2);
  });
});

describe.runIf(debianCrit)("crit-ts and Debian's crit agree", () => {
  for (const set of sets) {
    const dir = join(CONFORMANCE_DIR, set, 'images');
    for (const what of ['ps', 'fds', 'mems']) {
      it(`x ${set} ${what}`, () => {
        const ours = critTs(['x', dir, what]);
        expect(ours.stderr).toBe('');
        expect(ours.stdout.toString()).toBe(crit(['x', dir, what]));
      });
    }
  }

  it("reads images our encoder writes from scratch", () => {
    const pstree: Image = {
      magic: 'PSTREE',
      entries: [
        { type: 'pstree_entry', message: { pid: 100, ppid: 0, pgid: 100, sid: 100, threads: [100, 101] } },
        { type: 'pstree_entry', message: { pid: 102, ppid: 100, pgid: 100, sid: 100, threads: [102] } },
      ],
    };
    const pagemap: Image = {
      magic: 'PAGEMAP',
      entries: [
        { type: 'pagemap_head', message: { pages_id: 1 } },
        { type: 'pagemap_entry', message: { vaddr: 0x7f0000000000n, compat_nr_pages: 3, flags: 4, nr_pages: 3n } },
      ],
    };
    const pipes: Image = {
      magic: 'PIPES_DATA',
      entries: [{ type: 'pipe_data_entry', message: { pipe_id: 7, bytes: 5 }, extra: new Uint8Array(Buffer.from('hello')) }],
    };
    const decoded: Record<string, unknown> = {};
    for (const [name, image] of Object.entries({ pstree, pagemap, pipes })) {
      const file = join(work, `${name}.img`);
      writeFileSync(file, encodeImage(image));
      decoded[name] = JSON.parse(crit(['decode', '-i', file]));
    }
    expect(decoded['pstree']).toEqual({
      magic: 'PSTREE',
      entries: [
        { pid: 100, ppid: 0, pgid: 100, sid: 100, threads: [100, 101] },
        { pid: 102, ppid: 100, pgid: 100, sid: 100, threads: [102] },
      ],
    });
    // crit 3.17 knows field 2 as nr_pages and nothing of field 5.
    expect(decoded['pagemap']).toEqual({
      magic: 'PAGEMAP',
      entries: [{ pages_id: 1 }, { vaddr: 0x7f0000000000, nr_pages: 3, flags: 4 }],
    });
    expect(decoded['pipes']).toEqual({
      magic: 'PIPES_DATA',
      entries: [{ pipe_id: 7, bytes: 5, extra: Buffer.from('hello').toString('base64') + '\n' }],
    });
  });
});

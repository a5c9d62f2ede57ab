/**
 * Our VMA classification against CRIU 4.2's: a `sleep` started here maps the same binaries as
 * the one CRIU dumped for ../shared/conformance/sleep, so the two mm images must agree area by
 * area (addresses differ by ASLR; prot, flags, status, pgoff, size of file areas and the files
 * behind them must not).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDir } from '../../src/images/image_dir.js';
import { readEntries, readSingle } from '../../src/images/typed.js';
import { VMA, collectVmas, type TaskVmas } from '../../src/dump/vmas.js';
import { SCHEMA } from '../../src/images/generated/schema.js';
import { messageToJson } from '../../src/images/crit_json.js';
import { CONFORMANCE_DIR } from '../support/paths.js';

let pid = 0;
let ours: TaskVmas;

function sleepMs(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

beforeAll(() => {
  // The same command line CRIU's set was made from (`setsid sleep 1000`), with stdio on /dev/null.
  pid = Number(spawnSync('sh', ['-c', 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).stdout.trim());
  for (let i = 0; i < 200 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sleep'; i++) sleepMs(5);
  ours = collectVmas(pid);
});
afterAll(() => {
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 300 && existsSync(`/proc/${pid}/exe`); i++) sleepMs(10);
});

describe('VMA classification', () => {
  const dir = ImageDir.open(join(CONFORMANCE_DIR, 'sleep', 'images'));
  const criu = readSingle(dir, 'mm', 15349).vmas!;
  const criuFiles = new Map(readEntries(dir, 'files').map((f) => [f.id, f.reg?.name]));

  it('finds the same areas as CRIU, with the same kind, protection and flags', () => {
    const pretty = (v: object) => messageToJson(SCHEMA, 'vma_entry', v as never, true, false);
    const shape = (v: Record<string, unknown>) => ({ prot: v['prot'], flags: v['flags'], status: v['status'], madv: v['madv'] });
    // Small file mappings (locale files) may land in other gaps from run to run: compare as sets.
    const sorted = (vmas: object[]) => vmas.map((v) => JSON.stringify(shape(pretty(v)))).sort();
    expect(ours.vmas).toHaveLength(criu.length);
    expect(sorted(ours.vmas)).toEqual(sorted(criu));
  });

  it('maps the same files at the same offsets and sizes', () => {
    const fileAreas = (vmas: typeof criu) => vmas.filter((v) => v.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED));
    const theirs = fileAreas(criu).map((v) => ({ name: criuFiles.get(Number(v.shmid)), pgoff: v.pgoff, size: v.end - v.start }));
    const mine = ours.files.map((f) => {
      const v = ours.vmas[f.vmaIndex]!;
      return { name: f.path, pgoff: v.pgoff, size: v.end - v.start };
    });
    const key = (f: { name?: string; pgoff: bigint }) => `${f.name}@${f.pgoff}`;
    const bySpot = (a: { name?: string; pgoff: bigint }, b: { name?: string; pgoff: bigint }) => key(a).localeCompare(key(b));
    expect(mine.sort(bySpot)).toEqual(theirs.sort(bySpot));
  });

  it('records the stack as /proc shows it (as CRIU 4.2 does) and merges [vvar] with [vvar_vclock]', () => {
    const stack = ours.vmas.find((v) => v.flags & 0x100)!;
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    const stackLine = maps.split('\n').find((l) => l.endsWith('[stack]'))!;
    expect(stack.start).toBe(BigInt('0x' + stackLine.split('-')[0]));
    const criuStack = criu.find((v) => v.flags & 0x100)!;
    expect(stack.end - stack.start).toBe(criuStack.end - criuStack.start);
    const vvar = ours.vmas.filter((v) => v.status & VMA.AREA_VVAR);
    expect(vvar).toHaveLength(1);
    const vvarLines = maps.split('\n').filter((l) => /\[vvar(_vclock)?\]$/.test(l));
    expect(vvar[0]!.end - vvar[0]!.start).toBe(
      vvarLines.reduce((n, l) => n + (BigInt('0x' + l.split(' ')[0]!.split('-')[1]) - BigInt('0x' + l.split('-')[0])), 0n),
    );
  });
});

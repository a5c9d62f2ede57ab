/**
 * kernel-check must agree with the kernel: every probe is compared with an independent C probe
 * (test/support/kernel_probe.c) that exercises the same feature the direct way.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEATURES, hasFeature } from '../../kernel-check/index.js';
import { CRIU_TS, REPO_ROOT } from '../support/paths.js';

interface CFinding { ok: boolean; value: string }
const work = mkdtempSync(join(tmpdir(), 'criu-ts-kcheck-'));
const fromC = new Map<string, CFinding>();

beforeAll(() => {
  const binary = join(work, 'kernel_probe');
  execFileSync('gcc', ['-O1', '-o', binary, join(REPO_ROOT, 'test/support/kernel_probe.c')]);
  for (const line of execFileSync(binary, { encoding: 'utf8' }).trim().split('\n')) {
    const [name, verdict, ...rest] = line.split(' ');
    fromC.set(name!, { ok: verdict === 'ok', value: rest.join(' ') });
  }
  // nftables is a tool plus a kernel subsystem: list an empty ruleset in a fresh namespace.
  const nft = spawnSync('unshare', ['--net', 'nft', 'list', 'ruleset']);
  fromC.set('network_lock_nftables', { ok: nft.status === 0, value: '' });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function criuTs(args: string[]) {
  const res = spawnSync(process.execPath, [CRIU_TS, ...args], { encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

interface Report { name: string; category: string; supported: boolean; value?: unknown; reason?: string }

describe('kernel-check', () => {
  let reports: Report[];
  beforeAll(() => {
    const out = criuTs(['check', '--all', '--json']);
    reports = JSON.parse(out.stdout).features;
  });

  it('probes every feature the independent C probe knows, and no other', () => {
    expect(reports.map((r) => r.name).sort()).toEqual([...fromC.keys()].sort());
    expect(FEATURES.map((f) => f.name).sort()).toEqual([...fromC.keys()].sort());
  });

  it('agrees with the kernel on every feature', () => {
    const disagreements = reports
      .filter((r) => r.supported !== fromC.get(r.name)!.ok)
      .map((r) => `${r.name}: criu-ts says ${r.supported ? 'supported' : `missing (${r.reason})`}, C says ${JSON.stringify(fromC.get(r.name))}`);
    expect(disagreements).toEqual([]);
  });

  it('reports the xstate size and the rseq area size the kernel reports', () => {
    const value = (name: string) => reports.find((r) => r.name === name)?.value;
    if (fromC.get('xstate')!.ok) expect(value('xstate')).toBe(Number(fromC.get('xstate')!.value));
    if (fromC.get('get_rseq_conf')!.ok) expect(value('get_rseq_conf')).toBe(Number(fromC.get('get_rseq_conf')!.value));
  });

  it("prints criu check's verdicts and exit codes", () => {
    const requiredOk = reports.filter((r) => r.category === 'required').every((r) => r.supported);
    const allOk = reports.every((r) => r.supported);
    const plain = criuTs(['check']);
    expect(plain.stdout).toBe(requiredOk ? 'Looks good.\n' : 'Does not look good.\n');
    expect(plain.status).toBe(requiredOk ? 0 : 1);

    const all = criuTs(['check', '--all']);
    expect(all.status).toBe(allOk ? 0 : 1);
    if (requiredOk && !allOk) {
      expect(all.stdout).toMatch(/^Looks good but some kernel features are missing\n/);
      for (const r of reports.filter((x) => !x.supported)) expect(all.stderr).toContain(`Warn: ${r.name}: `);
    }
  });

  it('probes one feature with --feature, and refuses an unknown one', () => {
    const uffd = criuTs(['check', '--feature', 'uffd']);
    expect(uffd.stdout).toBe(fromC.get('uffd')!.ok ? 'uffd is supported\n' : 'uffd is not supported\n');
    const dirty = criuTs(['check', '--feature', 'mem_dirty_track']);
    expect(dirty.status).toBe(fromC.get('mem_dirty_track')!.ok ? 0 : 1);
    const unknown = criuTs(['check', '--feature', 'warp_drive']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown feature warp_drive/);
  });

  it('answers hasFeature() for test gating, and refuses names it does not know', () => {
    expect(hasFeature('ptrace_seize')).toBe(fromC.get('ptrace_seize')!.ok);
    expect(hasFeature('mem_dirty_track')).toBe(fromC.get('mem_dirty_track')!.ok);
    expect(() => hasFeature('warp_drive')).toThrow(/unknown kernel feature/);
  });

  it('leaves no probe target behind', () => {
    const left = spawnSync('pgrep', ['-f', '^sleep 600$'], { encoding: 'utf8' }).stdout.trim();
    expect(left).toBe('');
  });
});

// Compares the netlink and sock_diag struct layouts (src/sys/netlink.ts, src/net/sock_diag.ts) and
// the socket constants of src/net/ with what the C headers say, through
// test/support/net_layout_probe.c compiled with gcc at test time.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netConstantEntries } from '../../src/net/constants.js';
import { SOCK_DIAG_LAYOUTS, sockDiagConstantEntries } from '../../src/net/sock_diag.js';
import { NETLINK_LAYOUTS, netlinkConstantEntries } from '../../src/sys/netlink.js';

const PROBE_SOURCE = fileURLToPath(new URL('../support/net_layout_probe.c', import.meta.url));
const LAYOUTS = [...NETLINK_LAYOUTS, ...SOCK_DIAG_LAYOUTS];

const sizes = new Map<string, number>();
const fields = new Map<string, { offset: number; size: number }>();
const consts = new Map<string, number>();
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-net-probe-'));
  const bin = join(dir, 'probe');
  execFileSync('gcc', ['-Wall', '-Werror', '-o', bin, PROBE_SOURCE], { stdio: 'pipe' });
  for (const line of execFileSync(bin, { encoding: 'utf8' }).split('\n')) {
    if (line === '') continue;
    const [kind, name, a, b] = line.split(' ') as [string, string, string, string | undefined];
    if (kind === 'size') sizes.set(name, Number(a));
    else if (kind === 'field') fields.set(name, { offset: Number(a), size: Number(b) });
    else if (kind === 'const') consts.set(name, Number(a));
    else throw new Error(`Unexpected probe line: ${line}`);
  }
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('netlink and sock_diag tables match the C headers', () => {
  it('has the size, field offsets and field sizes of every struct, and every field the probe prints', () => {
    const ours = new Set<string>();
    for (const layout of LAYOUTS) {
      expect({ struct: layout.name, size: layout.size }).toEqual({ struct: layout.name, size: sizes.get(layout.name) });
      for (const [name, field] of Object.entries(layout.fields) as Array<[string, { offset: number; size: number }]>) {
        const key = `${layout.name}.${name}`;
        ours.add(key);
        expect({ field: key, offset: field.offset, size: field.size }).toEqual({ field: key, ...fields.get(key) });
      }
    }
    expect([...sizes.keys()].sort()).toEqual(LAYOUTS.map((l) => l.name).sort());
    expect([...fields.keys()].filter((k) => !ours.has(k))).toEqual([]);
  });

  it('has the value of every constant, and every constant the probe prints', () => {
    const ours = new Map<string, number>();
    for (const [name, value] of [...netlinkConstantEntries(), ...sockDiagConstantEntries(), ...netConstantEntries()]) {
      expect(ours.has(name), `${name} listed twice`).toBe(false);
      ours.set(name, value);
    }
    const mismatches: string[] = [];
    for (const [name, value] of ours) if (consts.get(name) !== value) mismatches.push(`${name}: ours ${value}, headers ${consts.get(name)}`);
    for (const name of consts.keys()) if (!ours.has(name)) mismatches.push(`${name}: missing from our tables`);
    expect(mismatches).toEqual([]);
  });
});

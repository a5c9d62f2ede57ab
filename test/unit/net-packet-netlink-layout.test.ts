// Compares the packet_diag and netlink_diag layouts, the packet and netlink socket addresses and the
// SOL_PACKET / SOL_NETLINK constants (src/net/packet_diag.ts, src/net/netlink_diag.ts) with what
// the C headers say, through test/support/packet_netlink_probe.c compiled with gcc at test time.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETLINK_DIAG_LAYOUTS, netlinkDiagConstantEntries } from '../../src/net/netlink_diag.js';
import { PACKET_LAYOUTS, packetConstantEntries } from '../../src/net/packet_diag.js';

const PROBE_SOURCE = fileURLToPath(new URL('../support/packet_netlink_probe.c', import.meta.url));
const LAYOUTS = [...PACKET_LAYOUTS, ...NETLINK_DIAG_LAYOUTS];

const sizes = new Map<string, number>();
const fields = new Map<string, { offset: number; size: number }>();
const consts = new Map<string, number>();
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-pknl-probe-'));
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

describe('packet and netlink socket tables match the C headers', () => {
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
    for (const [name, value] of [...packetConstantEntries(), ...netlinkDiagConstantEntries()]) {
      expect(ours.has(name), `${name} listed twice`).toBe(false);
      ours.set(name, value);
    }
    const mismatches: string[] = [];
    for (const [name, value] of ours) if (consts.get(name) !== value) mismatches.push(`${name}: ours ${value}, headers ${consts.get(name)}`);
    for (const name of consts.keys()) if (!ours.has(name)) mismatches.push(`${name}: missing from our tables`);
    expect(mismatches).toEqual([]);
  });
});

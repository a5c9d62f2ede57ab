// The layout tests' common half: a C probe (compiled with gcc at test time) prints what the C
// headers say, line by line ("size NAME N", "field STRUCT.FIELD OFFSET SIZE", "const NAME VALUE");
// our tables of struct layouts and constants must say the same, nothing more, nothing less.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

/** What a probe printed. */
export interface ProbeFacts {
  sizes: Map<string, number>;
  fields: Map<string, { offset: number; size: number }>;
  consts: Map<string, number>;
}

/** A struct layout of ours: its size and its fields' offsets and sizes. */
export interface StructLayout {
  name: string;
  size: number;
  fields: object;
}

/** Compiles and runs the probe at `source`; returns what it printed. */
export function runLayoutProbe(source: string): ProbeFacts {
  const dir = mkdtempSync(join(tmpdir(), 'criu-ts-layout-probe-'));
  try {
    const bin = join(dir, 'probe');
    execFileSync('gcc', ['-Wall', '-Werror', '-o', bin, source], { stdio: 'pipe' });
    const facts: ProbeFacts = { sizes: new Map(), fields: new Map(), consts: new Map() };
    for (const line of execFileSync(bin, { encoding: 'utf8' }).split('\n')) {
      if (line === '') continue;
      const [kind, name, a, b] = line.split(' ') as [string, string, string, string | undefined];
      if (kind === 'size') facts.sizes.set(name, Number(a));
      else if (kind === 'field') facts.fields.set(name, { offset: Number(a), size: Number(b) });
      else if (kind === 'const') facts.consts.set(name, Number(a));
      else throw new Error(`Unexpected probe line: ${line}`);
    }
    return facts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every struct of `layouts` has the probe's size and field offsets and sizes, and every field the probe prints. */
export function expectLayoutsMatch(layouts: readonly StructLayout[], facts: ProbeFacts): void {
  const ours = new Set<string>();
  for (const layout of layouts) {
    expect({ struct: layout.name, size: layout.size }).toEqual({ struct: layout.name, size: facts.sizes.get(layout.name) });
    for (const [name, field] of Object.entries(layout.fields) as Array<[string, { offset: number; size: number }]>) {
      const key = `${layout.name}.${name}`;
      ours.add(key);
      expect({ field: key, offset: field.offset, size: field.size }).toEqual({ field: key, ...facts.fields.get(key) });
    }
  }
  expect([...facts.sizes.keys()].sort()).toEqual(layouts.map((l) => l.name).sort());
  expect([...facts.fields.keys()].filter((k) => !ours.has(k))).toEqual([]);
}

/** Every constant of `entries` (each listed once) has the probe's value, and every constant the probe prints is there. */
export function expectConstantsMatch(entries: Iterable<[string, number]>, facts: ProbeFacts): void {
  const ours = new Map<string, number>();
  for (const [name, value] of entries) {
    expect(ours.has(name), `${name} listed twice`).toBe(false);
    ours.set(name, value);
  }
  const mismatches: string[] = [];
  for (const [name, value] of ours) if (facts.consts.get(name) !== value) mismatches.push(`${name}: ours ${value}, headers ${facts.consts.get(name)}`);
  for (const name of facts.consts.keys()) if (!ours.has(name)) mismatches.push(`${name}: missing from our tables`);
  expect(mismatches).toEqual([]);
}

// Compares src/sys/ tables (struct layouts, constants, syscall numbers, errno names) with what
// the C headers say, through test/support/sys_layout_probe.c compiled with gcc at test time.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskConstantEntries } from '../../src/sys/constants.js';
import { ioConstantEntries, openFlags } from '../../src/sys/constants_io.js';
import { userErrnoEntries } from '../../src/sys/errno.js';
import { ALL_LAYOUTS, cmsgLen, cmsgSpace } from '../../src/sys/structs.js';
import { hostArch, SYSCALL_TABLE, syscallNumbers } from '../../src/sys/syscalls.js';

const PROBE_SOURCE = fileURLToPath(new URL('../support/sys_layout_probe.c', import.meta.url));

interface ProbeFacts {
  arch: string;
  sizes: Map<string, number>;
  fields: Map<string, { offset: number; size: number }>;
  consts: Map<string, bigint>;
  nr: Map<string, number>;
  nrGeneric: Map<string, number>;
  errnos: Map<string, number>;
  macros: Map<string, number>;
}

function parseProbe(text: string, facts: ProbeFacts): void {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [kind, name, a, b] = line.split(' ') as [string, string, string, string | undefined];
    switch (kind) {
      case 'arch':
        facts.arch = name;
        break;
      case 'size':
        facts.sizes.set(name, Number(a));
        break;
      case 'field':
        facts.fields.set(name, { offset: Number(a), size: Number(b) });
        break;
      case 'const':
        facts.consts.set(name, BigInt(a));
        break;
      case 'nr':
        facts.nr.set(name, Number(a));
        break;
      case 'nr-generic':
        facts.nrGeneric.set(name, Number(a));
        break;
      case 'errno':
        facts.errnos.set(name, Number(a));
        break;
      case 'macro':
        facts.macros.set(name, Number(a));
        break;
      default:
        throw new Error(`Unexpected probe line: ${line}`);
    }
  }
}

let dir = '';
const facts: ProbeFacts = {
  arch: '',
  sizes: new Map(),
  fields: new Map(),
  consts: new Map(),
  nr: new Map(),
  nrGeneric: new Map(),
  errnos: new Map(),
  macros: new Map(),
};
const kernelConstNames = new Set<string>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-sys-probe-'));
  const plain = join(dir, 'probe');
  const uapi = join(dir, 'probe-uapi');
  execFileSync('gcc', ['-Wall', '-Werror', '-o', plain, PROBE_SOURCE], { stdio: 'pipe' });
  execFileSync('gcc', ['-Wall', '-Werror', '-DPROBE_UAPI', '-o', uapi, PROBE_SOURCE], { stdio: 'pipe' });
  parseProbe(execFileSync(plain, { encoding: 'utf8' }), facts);
  const before = new Set(facts.consts.keys());
  parseProbe(execFileSync(uapi, { encoding: 'utf8' }), facts);
  for (const name of facts.consts.keys()) if (!before.has(name)) kernelConstNames.add(name);
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('sys tables match the C headers', () => {
  it('runs on the architecture the probe was built for', () => {
    expect(facts.arch).toBe(hostArch());
  });

  it('has the size, field offsets and field sizes of every struct', () => {
    const ours = new Set<string>();
    for (const layout of ALL_LAYOUTS) {
      expect({ struct: layout.name, size: layout.size }).toEqual({ struct: layout.name, size: facts.sizes.get(layout.name) });
      for (const [name, field] of Object.entries(layout.fields) as Array<[string, { offset: number; size: number }]>) {
        const key = `${layout.name}.${name}`;
        ours.add(key);
        expect({ field: key, offset: field.offset, size: field.size }).toEqual({ field: key, ...facts.fields.get(key) });
      }
    }
    expect([...facts.sizes.keys()].sort()).toEqual(ALL_LAYOUTS.map((l) => l.name).sort());
    expect([...facts.fields.keys()].filter((k) => !ours.has(k))).toEqual([]);
  });

  it('computes CMSG_LEN and CMSG_SPACE as the C macros do', () => {
    expect(facts.macros.size).toBeGreaterThan(0);
    for (const [macro, value] of facts.macros) {
      const m = /^(CMSG_LEN|CMSG_SPACE)\((\d+)\)$/.exec(macro);
      expect(m, macro).not.toBeNull();
      const n = Number(m![2]);
      expect({ macro, value: m![1] === 'CMSG_LEN' ? cmsgLen(n) : cmsgSpace(n) }).toEqual({ macro, value });
    }
  });

  it('has the value of every constant, and every constant the probe prints', () => {
    const io = ioConstantEntries();
    const ours = new Map<string, bigint>();
    for (const [name, value] of [...taskConstantEntries(), ...io.libc, ...io.kernel]) {
      expect(ours.has(name), `${name} listed twice`).toBe(false);
      ours.set(name, BigInt(value));
    }
    const mismatches: string[] = [];
    for (const [name, value] of ours) {
      const theirs = facts.consts.get(name);
      if (theirs !== value) mismatches.push(`${name}: ours ${value}, headers ${theirs}`);
    }
    for (const name of facts.consts.keys()) if (!ours.has(name)) mismatches.push(`${name}: missing from our tables`);
    expect(mismatches).toEqual([]);
    // The kernel's open flags are the ones compared, not glibc's.
    expect(new Set(io.kernel.map(([name]) => name))).toEqual(kernelConstNames);
  });

  it('knows the other architecture\'s open flags', () => {
    const other = openFlags(hostArch() === 'x86_64' ? 'aarch64' : 'x86_64');
    const host = openFlags(hostArch());
    expect(other.DIRECTORY).not.toBe(host.DIRECTORY);
    expect(new Set([other.DIRECT, other.LARGEFILE, other.DIRECTORY, other.NOFOLLOW])).toEqual(
      new Set([host.DIRECT, host.LARGEFILE, host.DIRECTORY, host.NOFOLLOW]),
    );
  });

  it('has the host column of the syscall table', () => {
    const ours = syscallNumbers(hostArch());
    expect(Object.fromEntries(facts.nr)).toEqual({ ...ours });
  });

  it('has the generic (aarch64) column of the syscall table', () => {
    expect(Object.fromEntries(facts.nrGeneric)).toEqual({ ...syscallNumbers('aarch64') });
    expect(SYSCALL_TABLE.clone3).toEqual([435, 435]);
    expect(SYSCALL_TABLE.process_vm_readv).toEqual([310, 270]);
  });

  it('has every errno name and number', () => {
    expect(Object.fromEntries(facts.errnos)).toEqual(Object.fromEntries(userErrnoEntries()));
  });
});

// arch/: the register layout against the C headers (test/support/arch_regs_probe.c, built with gcc),
// the trap bytes against the assembler, and the pure parts of ArchOps (codec, syscall set-up,
// restart fix-ups for images, task size).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AARCH64_TABLE, aarch64 } from '../../arch/aarch64/ops.js';
import { archOps, hostArchOps, RESTART_CODES, type ArchOps, type Regs } from '../../arch/index.js';
import { X86_64_TABLE, x86_64 } from '../../arch/x86_64/ops.js';
import { hostArch, NR, SYSCALL_TABLE } from '../../src/sys/index.js';

const PROBE = fileURLToPath(new URL('../support/arch_regs_probe.c', import.meta.url));
const TRAP = fileURLToPath(new URL('../support/arch_trap.S', import.meta.url));

let dir = '';
const fields = new Map<string, { offset: number; size: number }>();
let structSize = 0;
let probeArch = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-arch-'));
  const bin = join(dir, 'probe');
  execFileSync('gcc', ['-Wall', '-Werror', '-o', bin, PROBE], { stdio: 'pipe' });
  for (const line of execFileSync(bin, { encoding: 'utf8' }).trim().split('\n')) {
    const [kind, a, b, c] = line.split(' ');
    if (kind === 'arch') probeArch = a!;
    if (kind === 'size') structSize = Number(a);
    if (kind === 'field') fields.set(a!, { offset: Number(b), size: Number(c) });
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Assembles `source` with `as` (a cross assembler when given) and returns the .text bytes. */
function assemble(source: string, tool = ''): Buffer {
  const obj = join(dir, `trap-${tool || 'host'}.o`);
  const bin = join(dir, `trap-${tool || 'host'}.bin`);
  if (tool === '') execFileSync('gcc', ['-c', '-o', obj, source], { stdio: 'pipe' });
  else execFileSync(`${tool}as`, ['-o', obj, source], { stdio: 'pipe' });
  execFileSync(`${tool}objcopy`, ['-O', 'binary', '-j', '.text', obj, bin], { stdio: 'pipe' });
  return readFileSync(bin);
}

describe('the host register layout', () => {
  it('matches the C header, field by field', () => {
    const ops = hostArchOps();
    expect(probeArch).toBe(hostArch());
    expect(ops.regsSize).toBe(structSize);
    expect(ops.table.regNames.length).toBe(fields.size);
    for (const [name, f] of fields) {
      expect({ name, offset: ops.regOffsets[name] }).toEqual({ name, offset: f.offset });
      expect(f.size).toBe(8);
    }
  });

  it('assembles to the trap bytes of the table', () => {
    expect([...assemble(TRAP)]).toEqual([...hostArchOps().table.syscallTrap]);
    expect([...hostArchOps().table.syscallTrap.subarray(-hostArchOps().table.breakpoint.byteLength)]).toEqual([...hostArchOps().table.breakpoint]);
  });

  it('uses the syscall numbers of src/sys', () => {
    expect(hostArchOps().nr.getpid).toBe(NR.getpid);
    expect(archOps('aarch64').nr.mmap).toBe(SYSCALL_TABLE.mmap[1]);
    expect(archOps('x86_64').nr.mmap).toBe(SYSCALL_TABLE.mmap[0]);
  });

  it('probes the task size and the page size', () => {
    const ops = hostArchOps();
    expect(ops.table.taskSizes).toContain(ops.taskSize());
    expect(ops.pageSize()).toBe(4096);
    const stackEnd = BigInt(`0x${/-([0-9a-f]+) .*\[stack\]/.exec(readFileSync('/proc/self/maps', 'utf8'))![1]}`);
    expect(stackEnd <= ops.taskSize()).toBe(true);
    if (hostArch() === 'x86_64') {
      const la57 = /\bla57\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
      if (!la57) expect(ops.taskSize()).toBe(0x7ffffffff000n);
      expect(readFileSync('/proc/self/maps', 'utf8')).toContain('ffffffffff600000-ffffffffff601000');
    }
  });
});

describe('the aarch64 table', () => {
  it('has user_pt_regs: x0-x30, sp, pc, pstate', () => {
    expect(aarch64.regsSize).toBe(34 * 8);
    expect(aarch64.regOffsets).toMatchObject({ x0: 0, x8: 64, x30: 240, sp: 248, pc: 256, pstate: 264 });
    expect(AARCH64_TABLE.syscall.nrRegset).toBe(0x404);
  });

  it('assembles to the trap bytes of the table (with the cross assembler, when installed)', () => {
    if (spawnSync('aarch64-linux-gnu-as', ['--version']).status !== 0) return;
    const src = join(dir, 'trap-aarch64.s');
    writeFileSync(src, '\t.text\n\tsvc #0\n\tbrk #0\n');
    expect([...assemble(src, 'aarch64-linux-gnu-')]).toEqual([...AARCH64_TABLE.syscallTrap]);
  });
});

function sampleRegs(ops: ArchOps): Regs {
  const bytes = new Uint8Array(ops.regsSize);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < ops.regsSize / 8; i++) view.setBigUint64(i * 8, 0x100000001n * BigInt(i + 1), true);
  return ops.decodeRegs(bytes);
}

describe('ArchOps on x86_64 registers (pure)', () => {
  const ops = x86_64;

  it('decodes and encodes NT_PRSTATUS without loss', () => {
    const regs = sampleRegs(ops);
    expect(regs['r15']).toBe(0x100000001n);
    expect(regs['rip']).toBe(0x100000001n * 17n);
    expect([...ops.encodeRegs(regs)]).toEqual([...ops.encodeRegs(ops.decodeRegs(ops.encodeRegs(regs)))]);
    expect(ops.ip(regs)).toBe(regs['rip']);
    expect(ops.sp(regs)).toBe(regs['rsp']);
    expect(() => ops.withRegs(regs, { xyz: 1n })).toThrow(RangeError);
  });

  it('sets up a syscall: nr in rax, args in rdi rsi rdx r10 r8 r9, ip at the site, no restart', () => {
    const regs = ops.setupSyscall(sampleRegs(ops), { nr: 9, args: [1n, 2n, 3n, 4n, -1, 6n], ip: 0x1000n });
    expect(regs).toMatchObject({ rax: 9n, rdi: 1n, rsi: 2n, rdx: 3n, r10: 4n, r8: 0xffffffffffffffffn, r9: 6n, rip: 0x1000n, orig_rax: 0xffffffffffffffffn });
    expect(ops.syscallNr(regs)).toBe(-1);
    expect(ops.syscallArgs(regs)).toEqual([1n, 2n, 3n, 4n, 0xffffffffffffffffn, 6n]);
    expect(ops.syscallResult(ops.withRegs(regs, { rax: -9n }))).toBe(-9n);
    expect(ops.trapStopIp(0x1000n)).toBe(0x1003n);
    // The in-place form on NT_PRSTATUS bytes (the remote hot path) does the same.
    const bytes = ops.encodeRegs(sampleRegs(ops));
    ops.writeSyscall(bytes, { nr: 9, args: [1n, 2n, 3n, 4n, -1, 6n], ip: 0x1000n });
    expect(ops.decodeRegs(bytes)).toEqual(regs);
    expect(ops.readReg(bytes, 'r10')).toBe(4n);
    expect(ops.readReg(bytes.slice(), 'orig_rax')).toBe(0xffffffffffffffffn);
  });

  it('recognises an interrupted syscall and fixes registers saved for an image', () => {
    const base = sampleRegs(ops);
    const at = (rax: bigint, orig: bigint) => ops.withRegs(base, { rax, orig_rax: orig, rip: 0x5000n });
    for (const [errno, code] of [[512, 'ERESTARTSYS'], [513, 'ERESTARTNOINTR'], [514, 'ERESTARTNOHAND']] as const) {
      const regs = at(BigInt(-errno), 0n);
      expect(ops.interruptedSyscall(regs)).toEqual({ nr: 0, restart: code, ret: BigInt(-errno) });
      const { regs: fixed, fixup } = ops.restartForImage(regs);
      expect(fixup).toEqual({ kind: 'restart', nr: 0, code });
      expect(fixed).toMatchObject({ rax: 0n, rip: 0x4ffen, orig_rax: 0n });
    }
    const sleep = at(-516n, 230n);
    expect(ops.restartForImage(sleep)).toMatchObject({ regs: { rax: BigInt.asUintN(64, -4n), rip: 0x5000n }, fixup: { kind: 'eintr', nr: 230 } });
    // Outside a syscall, or a syscall that finished (even with -EINTR): nothing to do.
    expect(ops.restartForImage(at(-512n, -1n)).fixup).toEqual({ kind: 'none' });
    expect(ops.restartForImage(at(-4n, 0n)).fixup).toEqual({ kind: 'none' });
    expect(ops.interruptedSyscall(at(5n, -1n))).toBeNull();
    expect(RESTART_CODES[516]).toBe('ERESTART_RESTARTBLOCK');
  });

  it('describes x86_64 in data', () => {
    expect(X86_64_TABLE.syscall.args).toEqual(['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9']);
    expect(X86_64_TABLE.xstate.noteType).toBe(0x202);
    expect(X86_64_TABLE.vsyscall?.start).toBe(0xffffffffff600000n);
  });
});

describe('ArchOps on aarch64 registers (pure)', () => {
  it('puts nr in x8 and args in x0-x5; restart needs orig_x0', () => {
    const regs = aarch64.setupSyscall(sampleRegs(aarch64), { nr: 222, args: [1n, 2n], ip: 0x2000n });
    expect(regs).toMatchObject({ x8: 222n, x0: 1n, x1: 2n, pc: 0x2000n });
    expect(aarch64.syscallNr(regs)).toBeNull();
    const stopped = aarch64.withRegs(regs, { x0: -512n, pc: 0x3004n });
    expect(aarch64.restartForImage(stopped, { nr: 63 }).fixup).toEqual({ kind: 'unknown', nr: 63, code: 'ERESTARTSYS' });
    expect(aarch64.restartForImage(stopped, { nr: 63, origArg0: 3n }).regs).toMatchObject({ x0: 3n, pc: 0x3000n });
    expect(aarch64.trapStopIp(0x2000n)).toBe(0x2004n);
  });
});

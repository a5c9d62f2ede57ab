// arch/x86_64/sigframe.ts against the kernel: struct offsets from the uapi headers and glibc
// (test/support/sigframe_probe.c), a frame the kernel itself wrote for a signal (our builder must
// write the same bytes from the same state), and the NT_X86_XSTATE regset of a live task (its size
// and XCR0 are what the kernel puts in its own frames). That rt_sigreturn through our frames puts a
// task back exactly is tested end to end in parasite-harness.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSigframe,
  decodeSigframe,
  FP_XSTATE_MAGIC1,
  FP_XSTATE_MAGIC2,
  FPSTATE,
  SIGCONTEXT,
  sigframeSize,
  SS_DISABLE,
  STACK_T,
  UC_FP_XSTATE,
  UC_SIGCONTEXT_SS,
  UC_STRICT_RESTORE_SS,
  UCONTEXT,
  X86_64_SIGFRAME,
} from '../../arch/x86_64/sigframe.js';
import { hostArch, NT, ptraceDetach, ptraceGetRegset, ptraceInterrupt, ptraceSeize, wait4, WAIT } from '../../src/sys/index.js';
import { killAllTargets, startSleeper } from './sys-targets.js';

const PROBE = fileURLToPath(new URL('../support/sigframe_probe.c', import.meta.url));
const x86 = hostArch() === 'x86_64';
let dir = '';
const facts = new Map<string, number>();
let kernelFrame: { address: bigint; bytes: Buffer } | null = null;

beforeAll(() => {
  if (!x86) return;
  dir = mkdtempSync(join(tmpdir(), 'criu-ts-sigframe-'));
  for (const variant of [[], ['-DPROBE_GLIBC']]) {
    const bin = join(dir, `probe${variant.length}`);
    execFileSync('gcc', ['-Wall', '-Werror', ...variant, '-o', bin, PROBE], { stdio: 'pipe' });
    for (const line of execFileSync(bin, { encoding: 'utf8' }).split('\n')) {
      const [name, a, b] = line.split(' ');
      if (name === 'frame') kernelFrame = { address: BigInt(a!), bytes: Buffer.from(b!, 'hex') };
      else if (name) facts.set(name, Number(a));
    }
  }
});
afterAll(() => {
  killAllTargets();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function fact(name: string): number {
  const v = facts.get(name);
  if (v === undefined) throw new Error(`The probe printed no ${name}`);
  return v;
}

const REGS = ['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rdi', 'rsi', 'rbp', 'rbx', 'rdx', 'rax', 'rcx', 'rsp', 'rip', 'eflags'] as const;

describe.runIf(x86)('x86_64 rt_sigframe', () => {
  it('has the kernel uapi layouts and glibc agrees', () => {
    expect(UCONTEXT).toEqual({
      FLAGS: fact('ucontext.uc_flags'),
      LINK: fact('ucontext.uc_link'),
      STACK: fact('ucontext.uc_stack'),
      MCONTEXT: fact('ucontext.uc_mcontext'),
      SIGMASK: fact('ucontext.uc_sigmask'),
      SIZE: fact('ucontext.size'),
    });
    expect(STACK_T).toEqual({ SP: fact('stack_t.ss_sp'), FLAGS: fact('stack_t.ss_flags'), SIZE: fact('stack_t.ss_size'), BYTES: fact('stack_t.size') });
    for (const [field, off] of Object.entries(SIGCONTEXT)) expect([field, off]).toEqual([field, fact(field === 'SIZE' ? 'sigcontext.size' : `sigcontext.${field}`)]);
    expect(X86_64_SIGFRAME.FRAME_SIZE).toBe(8 + fact('ucontext.size') + fact('siginfo.size'));
    expect(X86_64_SIGFRAME.FPSTATE % 64).toBe(0);
    expect(X86_64_SIGFRAME.FPSTATE).toBeGreaterThanOrEqual(X86_64_SIGFRAME.FRAME_SIZE);
    expect(FPSTATE.LEGACY_SIZE).toBe(fact('fpstate.size'));
    expect(FPSTATE.SW_RESERVED).toBe(fact('fpstate.sw_reserved'));
    expect(FPSTATE.XSTATE_BV).toBe(fact('xstate.header'));
    expect([fact('sw.magic1'), fact('sw.extended_size'), fact('sw.xfeatures'), fact('sw.xstate_size'), fact('sw.size')]).toEqual([0, 4, 8, 16, 48]);
    expect([FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2]).toEqual([fact('const.FP_XSTATE_MAGIC1'), fact('const.FP_XSTATE_MAGIC2')]);
    expect([UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, SS_DISABLE]).toEqual([
      fact('const.UC_FP_XSTATE'),
      fact('const.UC_SIGCONTEXT_SS'),
      fact('const.UC_STRICT_RESTORE_SS'),
      fact('const.SS_DISABLE'),
    ]);
    // glibc's ucontext_t: the same up to uc_sigmask; gregs follow struct sigcontext's order.
    expect(fact('glibc.uc_stack')).toBe(UCONTEXT.STACK);
    expect(fact('glibc.uc_mcontext')).toBe(UCONTEXT.MCONTEXT);
    expect(fact('glibc.uc_sigmask')).toBe(UCONTEXT.SIGMASK);
    expect([fact('glibc.gregs.r8'), fact('glibc.gregs.rip'), fact('glibc.gregs.efl'), fact('glibc.fpregs')]).toEqual([SIGCONTEXT.r8, SIGCONTEXT.rip, SIGCONTEXT.eflags, SIGCONTEXT.fpstate]);
  });

  it('writes the bytes the kernel writes for the same state', () => {
    const k = kernelFrame!;
    expect(k).not.toBeNull();
    const got = decodeSigframe(k.bytes, k.address);
    expect(got.ucFlags).toBe(BigInt(UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS));
    expect(got.sw.magic1).toBe(FP_XSTATE_MAGIC1);
    expect(got.sw.extendedSize).toBe(got.sw.xstateSize + 4);
    expect(got.fpstate % 64n).toBe(0n);
    const fpAt = Number(got.fpstate - k.address);
    expect(k.bytes.readUInt32LE(fpAt + got.sw.xstateSize)).toBe(FP_XSTATE_MAGIC2);
    // The probe blocked SIGHUP and SIGRTMIN+2 (glibc's 36) before raising SIGUSR1.
    expect(got.sigmask).toBe((1n << 0n) | (1n << 35n));

    // Rebuild it from the same state: the regset form of the xstate keeps XCR0 where the frame
    // keeps magic1/extended_size.
    const xstate = Buffer.from(k.bytes.subarray(fpAt, fpAt + got.sw.xstateSize));
    xstate.fill(0, FPSTATE.SW_RESERVED, FPSTATE.SW_RESERVED + 48);
    xstate.writeBigUInt64LE(got.sw.xfeatures, FPSTATE.SW_RESERVED);
    const align = k.address % 64n;
    const ours = buildSigframe({ regs: got.regs, sigmask: got.sigmask, xstate, altstack: got.altstack, address: k.address - align });
    const o = ours.bytes;
    const uc = X86_64_SIGFRAME.UC;
    const mc = uc + UCONTEXT.MCONTEXT;
    const kb = k.bytes;
    const slice = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.subarray(from, to)).toString('hex');
    // uc_flags, uc_link, uc_stack. The 4 bytes after ss_flags are padding the kernel never writes:
    // they hold whatever the user stack held there before the frame, so they are not compared.
    const padding = uc + 28;
    const noPad = (b: Uint8Array) => slice(b, uc, padding) + slice(b, padding + 4, mc);
    expect(noPad(o)).toBe(noPad(kb));
    // Every register and selector (err/trapno/oldmask/cr2 are the kernel's notes; fpstate moves).
    expect(slice(o, mc, mc + SIGCONTEXT.err)).toBe(slice(kb, mc, mc + SIGCONTEXT.err));
    expect(slice(o, uc + UCONTEXT.SIGMASK, uc + UCONTEXT.SIZE)).toBe(slice(kb, uc + UCONTEXT.SIGMASK, uc + UCONTEXT.SIZE));
    // The fpstate: the same, software words included, but for XSTATE_BV (the kernel marks x87
    // and SSE in use in every frame it writes).
    const ofp = X86_64_SIGFRAME.FPSTATE;
    const n = got.sw.xstateSize + 4;
    expect(slice(o, ofp, ofp + FPSTATE.XSTATE_BV)).toBe(slice(kb, fpAt, fpAt + FPSTATE.XSTATE_BV));
    expect(slice(o, ofp + FPSTATE.XSTATE_BV + 8, ofp + n)).toBe(slice(kb, fpAt + FPSTATE.XSTATE_BV + 8, fpAt + n));
    const bv = (b: Uint8Array, at: number): bigint => Buffer.from(b).readBigUInt64LE(at);
    expect(bv(o, ofp + FPSTATE.XSTATE_BV) | 3n).toBe(bv(kb, fpAt + FPSTATE.XSTATE_BV) | 3n);
    for (const r of REGS) expect(decodeSigframe(o, ours.address).regs[r]).toBe(got.regs[r]);
  });

  it('takes its xstate size and xfeatures from the NT_X86_XSTATE regset as the kernel does', () => {
    const pid = startSleeper();
    ptraceSeize(pid);
    ptraceInterrupt(pid);
    wait4(pid, { flags: WAIT.ALL });
    const xstate = ptraceGetRegset(pid, NT.X86_XSTATE, { size: 32768 });
    ptraceDetach(pid);
    const frame = buildSigframe({ regs: Object.fromEntries([...REGS, 'cs', 'ss', 'fs', 'gs'].map((r) => [r, 0n])), sigmask: 0n, xstate, address: 0x10000n });
    const sw = decodeSigframe(frame.bytes, 0x10000n).sw;
    const kernel = decodeSigframe(kernelFrame!.bytes, kernelFrame!.address).sw;
    expect(sw).toEqual(kernel);
    expect(frame.bytes.length).toBe(sigframeSize(xstate.length));
  });

  it('refuses an unaligned address and writes a legacy frame for a bare fxsave area', () => {
    const regs = Object.fromEntries([...REGS, 'cs', 'ss', 'fs', 'gs'].map((r) => [r, 0x1234n]));
    expect(() => buildSigframe({ regs, sigmask: 0n, xstate: new Uint8Array(2696), address: 0x1008n })).toThrow(RangeError);
    expect(() => buildSigframe({ regs, sigmask: 0n, xstate: new Uint8Array(520), address: 0x1000n })).toThrow(RangeError);
    const legacy = buildSigframe({ regs, sigmask: 5n, xstate: new Uint8Array(512).fill(7), address: 0x1000n, altstack: { sp: 0x5000n, flags: 0, size: 8192n } });
    const d = decodeSigframe(legacy.bytes, 0x1000n);
    expect(d.ucFlags).toBe(BigInt(UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS));
    expect(d.sw.magic1).toBe(0x07070707);
    expect(d.altstack).toEqual({ sp: 0x5000n, flags: 0, size: 8192n });
    expect(d.sigmask).toBe(5n);
    expect(d.regs['cs']).toBe(0x1234n);
    expect(legacy.sigreturnSp).toBe(0x1008n);
    expect(legacy.fpstate).toBe(0x1000n + BigInt(X86_64_SIGFRAME.FPSTATE));
    expect(() => buildSigframe({ regs: { rip: 1n }, sigmask: 0n, xstate: new Uint8Array(512), address: 0x1000n })).toThrow(/register r8/);
  });
});

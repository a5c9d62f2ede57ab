// ptrace and wait through src/sys on real detached `sleep` targets (not Node's children, so Node's
// child handling cannot eat their stops). Every target is killed in afterEach.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeWaitStatus,
  describeWaitStatus,
  ERRNO,
  getpid,
  hostArch,
  kill,
  NR,
  NT,
  P,
  ptraceCont,
  ptraceDetach,
  ptraceGetEventMsg,
  ptraceGetRegset,
  ptraceGetRseqConfiguration,
  ptraceGetSiginfo,
  ptraceGetSigmask,
  ptraceInterrupt,
  ptraceListen,
  ptracePeekData,
  ptracePeekSiginfo,
  ptracePokeData,
  ptraceSeize,
  ptraceSetRegset,
  ptraceSetSigmask,
  PTRACE_EVENT,
  PTRACE_O,
  SIG,
  SysError,
  wait4,
  WAIT,
  waitid,
} from '../../src/sys/index.js';
import { freePid, isDead, killAllTargets, procState, procStatusField, startSleeper, waitUntil } from './sys-targets.js';

afterEach(() => {
  killAllTargets();
});

/** Where the test finds pc, sp and the syscall number in NT_PRSTATUS (the real layout is arch/'s). */
const REGS = {
  x86_64: { size: 27 * 8, pc: 16 * 8, sp: 19 * 8, rax: 10 * 8, origRax: 15 * 8 },
  aarch64: { size: 34 * 8, pc: 32 * 8, sp: 31 * 8, rax: 0, origRax: -1 },
}[hostArch()];

function mappings(pid: number): Array<{ start: bigint; end: bigint; perms: string; name: string }> {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [range, perms, , , , ...rest] = line.split(/\s+/) as [string, string, string, string, string, ...string[]];
      const [start, end] = range.split('-') as [string, string];
      return { start: BigInt(`0x${start}`), end: BigInt(`0x${end}`), perms, name: rest.join(' ') };
    });
}

function mappingOf(pid: number, addr: bigint) {
  return mappings(pid).find((m) => m.start <= addr && addr < m.end);
}

function readProcMem(pid: number, addr: bigint, len: number): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, addr);
    return buf;
  } finally {
    closeSync(fd);
  }
}

const TIMEOUT = { timeoutMs: 5000 };

describe('wait status decoding', () => {
  it('decodes every kind of status word', () => {
    expect(decodeWaitStatus(0x0100)).toEqual({ kind: 'exited', code: 1 });
    expect(decodeWaitStatus(0x0009)).toEqual({ kind: 'signaled', signal: 9, coreDumped: false });
    expect(decodeWaitStatus(0x008b)).toEqual({ kind: 'signaled', signal: 11, coreDumped: true });
    expect(decodeWaitStatus(0x137f)).toEqual({ kind: 'stopped', signal: SIG.STOP });
    expect(decodeWaitStatus(0x857f)).toEqual({ kind: 'syscall' });
    expect(decodeWaitStatus((PTRACE_EVENT.STOP << 16) | (SIG.TRAP << 8) | 0x7f)).toEqual({ kind: 'event', event: PTRACE_EVENT.STOP, signal: SIG.TRAP });
    expect(decodeWaitStatus((PTRACE_EVENT.CLONE << 16) | (SIG.TRAP << 8) | 0x7f)).toEqual({ kind: 'event', event: PTRACE_EVENT.CLONE, signal: SIG.TRAP });
    expect(decodeWaitStatus(0xffff)).toEqual({ kind: 'continued' });
    expect(describeWaitStatus(decodeWaitStatus(0x80057f))).toBe('stopped at ptrace event STOP (signal 5)');
  });

  it('has nothing to wait for on a task that is not ours', () => {
    const pid = startSleeper();
    expect(() => wait4(pid, { flags: WAIT.ALL | WAIT.NOHANG })).toThrow(expect.objectContaining({ code: 'ECHILD', syscall: 'wait4', pid }));
  });
});

describe('ptrace on a detached sleep', () => {
  it('seize, interrupt, wait for the stop, read and write registers, memory and masks, then detach', () => {
    const pid = startSleeper();
    ptraceSeize(pid, { options: PTRACE_O.TRACESYSGOOD | PTRACE_O.EXITKILL, what: `seize task ${pid}` });
    expect(procStatusField(pid, 'TracerPid')).toBe(String(process.pid));

    // Seized but running: nothing to report yet, and a bounded wait says so.
    expect(wait4(pid, { flags: WAIT.ALL | WAIT.NOHANG })).toBeNull();
    expect(() => wait4(pid, { timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'wait4' }));

    ptraceInterrupt(pid);
    const stop = wait4(pid, TIMEOUT);
    expect(stop).toEqual({ pid, status: { kind: 'event', event: PTRACE_EVENT.STOP, signal: SIG.TRAP }, raw: (PTRACE_EVENT.STOP << 16) | (SIG.TRAP << 8) | 0x7f });
    expect(procState(pid)).toBe('t');
    expect(typeof ptraceGetEventMsg(pid)).toBe('bigint');
    expect(ptraceGetSiginfo(pid)).toMatchObject({ signo: SIG.TRAP, code: (PTRACE_EVENT.STOP << 8) | SIG.TRAP });

    // Registers: pc in executable code, sp on the stack, and the interrupted syscall's number.
    const regs = Buffer.from(ptraceGetRegset(pid, NT.PRSTATUS));
    expect(regs.length).toBe(REGS.size);
    const pc = regs.readBigUInt64LE(REGS.pc);
    const sp = regs.readBigUInt64LE(REGS.sp);
    expect(mappingOf(pid, pc)?.perms).toMatch(/^r-x/);
    expect(mappingOf(pid, sp)?.name).toBe('[stack]');
    const sleeping = [NR.clock_nanosleep, NR.nanosleep];
    if (hostArch() === 'x86_64') {
      expect(sleeping).toContain(Number(regs.readBigInt64LE(REGS.origRax)));
      // Interrupted inside the sleep: the return register holds a restart code (or -EINTR).
      const rax = -Number(regs.readBigInt64LE(REGS.rax));
      expect([ERRNO.ERESTART_RESTARTBLOCK, ERRNO.ERESTARTSYS, ERRNO.ERESTARTNOHAND, ERRNO.EINTR]).toContain(rax);
    } else {
      const nr = Buffer.from(ptraceGetRegset(pid, NT.ARM_SYSTEM_CALL)).readInt32LE(0);
      expect(sleeping).toContain(nr);
    }
    // Writing the same registers back is accepted and changes nothing.
    ptraceSetRegset(pid, NT.PRSTATUS, { data: regs });
    expect(Buffer.from(ptraceGetRegset(pid, NT.PRSTATUS, { buffer: new Uint8Array(512) }))).toEqual(regs);

    // PEEKDATA/POKEDATA on read-only code, checked through /proc/PID/mem, then put back.
    const at = pc & ~7n;
    const original = ptracePeekData(pid, at);
    expect(original).toBe(readProcMem(pid, at, 8).readBigUInt64LE(0));
    const patched = original ^ 0xffn;
    ptracePokeData(pid, at, { word: patched });
    expect(ptracePeekData(pid, at)).toBe(patched);
    expect(readProcMem(pid, at, 8).readBigUInt64LE(0)).toBe(patched);
    ptracePokeData(pid, at, { word: original });
    expect(ptracePeekData(pid, at)).toBe(original);
    expect(() => ptracePeekData(pid, 8n)).toThrow(expect.objectContaining({ code: 'EIO', syscall: 'ptrace', pid }));

    // Signal mask: block SIGUSR2, then queue one; it stays pending and PEEKSIGINFO sees it.
    const mask0 = ptraceGetSigmask(pid);
    const usr2 = 1n << BigInt(SIG.USR2 - 1);
    ptraceSetSigmask(pid, mask0 | usr2);
    expect(ptraceGetSigmask(pid)).toBe(mask0 | usr2);
    expect(BigInt(`0x${procStatusField(pid, 'SigBlk')}`)).toBe(mask0 | usr2);
    expect(ptracePeekSiginfo(pid, { shared: true })).toEqual([]);
    kill(pid, SIG.USR2);
    const pending = ptracePeekSiginfo(pid, { shared: true });
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ signo: SIG.USR2, pid: getpid(), code: 0 });
    expect(pending[0]!.raw).toHaveLength(128);
    expect(ptracePeekSiginfo(pid)).toEqual([]);

    // glibc registers rseq at start-up; the tracer can see where.
    const rseq = ptraceGetRseqConfiguration(pid);
    expect(rseq.rseqAbiPointer).not.toBe(0n);
    expect(rseq.rseqAbiSize).toBeGreaterThanOrEqual(32);

    ptraceDetach(pid);
    expect(procStatusField(pid, 'TracerPid')).toBe('0');
    waitUntil(() => procState(pid) === 'S', 'the detached target to sleep again');
    expect(() => ptraceInterrupt(pid)).toThrow(expect.objectContaining({ code: 'ESRCH', syscall: 'ptrace', pid }));
  });

  it('reports signal-delivery-stop, group-stop and LISTEN, and the tracee death', () => {
    const pid = startSleeper();
    ptraceSeize(pid);
    kill(pid, SIG.STOP);
    expect(wait4(pid, TIMEOUT)?.status).toEqual({ kind: 'stopped', signal: SIG.STOP });
    // Let the SIGSTOP through: the tracee enters group-stop, reported as PTRACE_EVENT_STOP.
    ptraceCont(pid, { signal: SIG.STOP });
    const group = waitid(P.PID, pid, { flags: WAIT.STOPPED | WAIT.ALL, ...TIMEOUT });
    expect(group?.pid).toBe(pid);
    expect(group?.status).toEqual({ kind: 'event', event: PTRACE_EVENT.STOP, signal: SIG.STOP });
    ptraceListen(pid);
    expect(wait4(pid, { flags: WAIT.ALL | WAIT.NOHANG })).toBeNull();
    kill(pid, SIG.CONT);
    expect(wait4(pid, TIMEOUT)?.status).toMatchObject({ kind: 'event', event: PTRACE_EVENT.STOP });
    ptraceCont(pid);
    kill(pid, SIG.KILL);
    expect(wait4(pid, TIMEOUT)?.status).toEqual({ kind: 'signaled', signal: SIG.KILL, coreDumped: false });
    waitUntil(() => isDead(pid), 'the target to die');
  });

  it('fails with stable codes', () => {
    expect(() => ptraceSeize(freePid())).toThrow(expect.objectContaining({ code: 'ESRCH', syscall: 'ptrace' }));
    let caught: unknown;
    try {
      ptraceSeize(getpid(), { what: 'seize ourselves' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysError);
    expect(caught).toMatchObject({ code: 'EPERM', syscall: 'ptrace', pid: getpid() });
    expect((caught as Error).message).toMatch(/^Seize ourselves: ptrace\(PTRACE_SEIZE, \d+, 0, 0\) failed: EPERM/);
  });
});

// Tracee on real detached targets (test/programs/*.c): seize, interrupt, stops, registers, extended
// state, memory, signal mask, detach; and the errors that name the task (busy, gone, died).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isPtraceError, PtraceError, Tracee } from '../../src/ptrace/index.js';
import { readMaps } from '../../src/proc/index.js';
import { PTRACE_EVENT, PTRACE_O, SIG } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, killProgram, makeFifo, startProgram, taskState, waitFor } from '../support/programs.js';
import { readFileSync, writeFileSync } from 'node:fs';

afterEach(() => killAllPrograms());
afterAll(() => cleanupPrograms());

function mappingOf(pid: number, addr: bigint) {
  return readMaps(pid).find((m) => m.start <= addr && addr < m.end);
}

function tracerOf(tid: number): number {
  return Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${tid}/status`, 'utf8'))![1]);
}

/** Seizes and interrupts a task, waiting for the interrupt stop. */
function stopTask(pid: number): Tracee {
  const t = Tracee.seize(pid);
  t.interrupt();
  expect(t.waitStop({ timeoutMs: 5000 })).toEqual({ kind: 'event', event: PTRACE_EVENT.STOP, signal: SIG.TRAP });
  return t;
}

describe('Tracee', () => {
  it('stops a sleeping task in its syscall, reads its state and lets it go unharmed', () => {
    const target = startProgram('sleeper', { args: ['200'] });
    target.waitOutput(/slept/);
    const t = stopTask(target.pid);
    try {
      expect(t.state).toBe('stopped');
      expect(tracerOf(target.pid)).toBe(process.pid);
      expect(taskState(target.pid)).toBe('t');
      const regs = t.getRegs();
      const ops = t.arch;
      expect(mappingOf(target.pid, ops.ip(regs))).toMatchObject({ exec: true });
      expect(mappingOf(target.pid, ops.sp(regs))?.path).toBe('[stack]');
      // Inside clock_nanosleep, interrupted: the return register holds a restart code.
      const inside = ops.interruptedSyscall(regs);
      expect(inside?.nr).toBe(ops.nr.clock_nanosleep);
      expect(inside?.restart).toBe('ERESTART_RESTARTBLOCK');
      // Writing the same registers back changes nothing.
      t.setRegs(regs);
      expect(t.getRegs()).toEqual(regs);

      const xstate = t.getXstate();
      expect(xstate.byteLength).toBe(t.xstateSize());
      expect(xstate.byteLength).toBeGreaterThanOrEqual(576);
      t.setXstate(xstate);
      expect(t.getXstate()).toEqual(xstate);

      const mask = t.getSigmask();
      t.setSigmask(mask | (1n << BigInt(SIG.USR2 - 1)));
      expect(t.getSigmask()).toBe(mask | (1n << BigInt(SIG.USR2 - 1)));
      t.setSigmask(mask);
    } finally {
      t.detach();
    }
    expect(t.state).toBe('detached');
    expect(tracerOf(target.pid)).toBe(0);
    const before = (target.out().match(/slept/g) ?? []).length;
    waitFor(() => (target.out().match(/slept/g) ?? []).length > before + 1, 'the sleeper to go on');
    expect(target.out()).not.toContain('FAIL');
  });

  it('reads and writes memory: words, process_vm_readv/writev, and read-only code through /proc/PID/mem', () => {
    const target = startProgram('busy');
    const t = stopTask(target.pid);
    try {
      const ip = t.arch.ip(t.getRegs());
      const code = mappingOf(target.pid, ip)!;
      expect(code.write).toBe(false);
      // Read-only code: process_vm_writev refuses it, /proc/PID/mem takes it.
      const original = t.readMemory(code.start, 16);
      expect(t.peek(code.start)).toBe(Buffer.from(original).readBigUInt64LE(0));
      const patched = Uint8Array.from(original, (b) => b ^ 0xff);
      t.writeMemory(code.start, patched);
      expect(t.readMemory(code.start, 16)).toEqual(patched);
      t.writeMemory(code.start, original);
      expect(t.readMemory(code.start, 16)).toEqual(original);
      // A word on the stack, with POKEDATA.
      const sp = t.arch.sp(t.getRegs());
      const word = t.peek(sp - 128n);
      t.poke(sp - 128n, 0x1122334455667788n);
      expect(Buffer.from(t.readMemory(sp - 128n, 8)).readBigUInt64LE(0)).toBe(0x1122334455667788n);
      t.poke(sp - 128n, word);
      // Unmapped memory is an error, not a short read.
      expect(() => t.readMemory(0x1000n, 8)).toThrow(expect.objectContaining({ code: 'EIO' }));
    } finally {
      t.detach();
    }
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS \d+/);
  });

  it('resumes with cont() and waits with a deadline', () => {
    const target = startProgram('busy');
    const t = stopTask(target.pid);
    t.cont();
    expect(t.state).toBe('running');
    expect(() => t.getRegs()).toThrow(expect.objectContaining({ code: 'NOT_STOPPED' }));
    expect(() => t.waitStop({ timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'STOP_TIMEOUT' }));
    t.interrupt();
    expect(t.waitStop({ timeoutMs: 5000 }).kind).toBe('event');
    // detach() from a running tracee stops it first.
    t.cont();
    t.detach();
    expect(tracerOf(target.pid)).toBe(0);
  });

  it('refuses PTRACE_O_EXITKILL', () => {
    const target = startProgram('busy');
    expect(() => Tracee.seize(target.pid, { options: PTRACE_O.EXITKILL })).toThrow(/EXITKILL/);
    expect(tracerOf(target.pid)).toBe(0);
  });

  it('reports a task that is already traced as PTRACE_BUSY, naming the tracer', () => {
    const target = startProgram('busy');
    const tracer = startProgram('tracer', { args: [String(target.pid)] });
    let err: unknown;
    try {
      Tracee.seize(target.pid);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PtraceError);
    expect(err).toMatchObject({ code: 'PTRACE_BUSY', tid: target.pid, tracerPid: tracer.pid });
    expect((err as Error).message).toContain(`task ${target.pid}`);
    expect((err as Error).message).toContain(`process ${tracer.pid}`);
  });

  it('reports a task that does not exist, or is a zombie, as TASK_GONE', () => {
    const target = startProgram('exiter');
    waitFor(() => taskState(target.pid) !== 'R' && taskState(target.pid) !== 'S', 'the exiter to exit');
    // PID 1 reaps slowly: the pid is a zombie for a while, then gone; both are TASK_GONE.
    expect(() => Tracee.seize(target.pid)).toThrow(expect.objectContaining({ code: 'TASK_GONE' }));
  });

  it('reports a task killed while stopped as TASK_DIED, with how it died, and reaps it', () => {
    const target = startProgram('busy');
    const t = stopTask(target.pid);
    process.kill(target.pid, 'SIGKILL');
    let err: unknown;
    try {
      for (let i = 0; i < 100; i++) t.getRegs();
      t.cont();
      t.waitStop({ timeoutMs: 5000 });
      t.getRegs();
    } catch (e) {
      err = e;
    }
    expect(isPtraceError(err, 'TASK_DIED')).toBe(true);
    expect(t.state).toBe('dead');
    expect(t.exitStatus).toEqual({ kind: 'signaled', signal: SIG.KILL, coreDumped: false });
    expect((err as Error).message).toMatch(new RegExp(`task ${target.pid}.*died`));
    // Reaped by us, it is PID 1's zombie now (or gone), not stuck as our tracee.
    waitFor(() => taskState(target.pid) === null || tracerOf(target.pid) === 0, 'the dead task to be released');
    t.detach();
    killProgram(target);
  });

  it('seizes a task blocked in read() and leaves the read pending', () => {
    const fifo = makeFifo('tracee');
    const target = startProgram('piperead', { args: [fifo] });
    waitFor(() => taskState(target.pid) === 'S', 'the reader to block');
    const t = stopTask(target.pid);
    const regs = t.getRegs();
    expect(t.arch.interruptedSyscall(regs)).toMatchObject({ nr: t.arch.nr.read, restart: 'ERESTARTSYS' });
    t.detach();
    writeFileSync(fifo, 'hello');
    target.waitOutput(/got hello/);
  });
});

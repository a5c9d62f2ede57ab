// RemoteSyscalls on real detached targets: ids, mmap/munmap seen in /proc/PID/maps, a write to the
// target's stdout, failures as the task's result (not ours), restarts of the syscall a task was
// blocked in (read on a pipe, nanosleep), a task killed mid-call, and the cost of one sequence.
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readMaps } from '../../src/proc/index.js';
import { freezeTree, isPtraceError, ptraceStats, resetPtraceStats, Tracee } from '../../src/ptrace/index.js';
import { findSyscallSite, isRemoteSyscallError, RemoteSyscalls, remoteSyscall, withRemote } from '../../src/remote/index.js';
import { MAP, PROT, PTRACE_EVENT, resetSyscallCounts, SIG, syscallCounts } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, makeFifo, pause, startProgram, taskState, waitFor } from '../support/programs.js';
import { spawn } from 'node:child_process';

afterEach(() => killAllPrograms());
afterAll(() => cleanupPrograms());

function stopTask(pid: number): Tracee {
  const t = Tracee.seize(pid);
  t.interrupt();
  expect(t.waitStop({ timeoutMs: 5000 })).toMatchObject({ kind: 'event', event: PTRACE_EVENT.STOP });
  return t;
}

function mapsText(pid: number): string {
  return readMaps(pid)
    .map((m) => `${m.start.toString(16)}-${m.end.toString(16)} ${m.read}${m.write}${m.exec}${m.shared} ${m.path ?? ''}`)
    .join('\n');
}

describe('RemoteSyscalls', () => {
  it('runs getpid/gettid, mmap/munmap and write() in a spinning task, and puts everything back', () => {
    const target = startProgram('busy');
    const mapsBefore = mapsText(target.pid);
    const t = stopTask(target.pid);
    const regsBefore = t.getRegs();
    const maskBefore = t.getSigmask();
    const site = findSyscallSite(target.pid);
    const codeBefore = t.readMemory(site, 16);
    withRemote(t, (r) => {
      expect(r.site).toBe(site);
      expect(r.getpid()).toBe(target.pid);
      expect(r.gettid()).toBe(target.pid);
      // The trap is in place while the scope is open, and every signal is blocked but SIGTRAP (and
      // SIGKILL and SIGSTOP, which the kernel keeps out of any mask).
      expect([...t.readMemory(site, 3)]).toEqual([0x0f, 0x05, 0xcc]);
      const unblockable = [SIG.KILL, SIG.STOP, SIG.TRAP].reduce((m, s) => m | (1n << BigInt(s - 1)), 0n);
      expect(t.getSigmask()).toBe(((1n << 64n) - 1n) & ~unblockable);

      const addr = r.mmap(3 * 4096, { prot: PROT.READ | PROT.WRITE });
      // (It may merge with a neighbouring anonymous mapping: look for the area that covers it.)
      const covering = (a: bigint) => readMaps(target.pid).find((x) => x.start <= a && a < x.end);
      expect(covering(addr)).toMatchObject({ read: true, write: true, exec: false, path: undefined });
      expect(covering(addr)!.end >= addr + 3n * 4096n).toBe(true);
      r.mprotect(addr, 4096, PROT.READ);
      expect(covering(addr)).toMatchObject({ start: addr, end: addr + 4096n, write: false });
      r.munmap(addr, 3 * 4096);
      expect(readMaps(target.pid).some((x) => x.start <= addr && addr < x.end)).toBe(false);

      const text = new TextEncoder().encode(`hello from pid ${process.pid}\n`);
      const n = r.withScratch(text, (buf) => r.syscall('write', 1, buf, text.byteLength));
      expect(n).toBe(BigInt(text.byteLength));
    });
    expect(t.readMemory(site, 16)).toEqual(codeBefore);
    expect(t.getRegs()).toEqual(regsBefore);
    expect(t.getSigmask()).toBe(maskBefore);
    t.detach();
    expect(target.out()).toContain(`hello from pid ${process.pid}\n`);
    expect(mapsText(target.pid)).toBe(mapsBefore);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS \d+/);
  });

  it("returns a failed syscall as the task's result (EBADF), not as a local error", () => {
    const target = startProgram('busy');
    const t = stopTask(target.pid);
    try {
      expect(remoteSyscall(t, 'close', [9999])).toEqual({ ok: false, errno: 9, code: 'EBADF' });
      withRemote(t, (r) => {
        let err: unknown;
        try {
          r.syscall('close', 9999);
        } catch (e) {
          err = e;
        }
        expect(isRemoteSyscallError(err, 'EBADF')).toBe(true);
        expect(err).toMatchObject({ code: 'REMOTE_SYSCALL_FAILED', syscall: 'close', errno: 9, tid: target.pid });
        expect((err as Error).message).toBe(`Remote close(9999) in task ${target.pid} failed: EBADF (Bad file descriptor)`);
        // The scope still works after a failed call.
        expect(r.getpid()).toBe(target.pid);
        expect(r.call('mmap', 0, 4096, PROT.READ, MAP.PRIVATE | MAP.ANONYMOUS | MAP.FIXED, -1, 0x1001)).toEqual({ ok: false, errno: 22, code: 'EINVAL' });
      });
    } finally {
      t.detach();
    }
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('lets a task blocked in read() on a pipe resume its read after remote syscalls and detach', () => {
    const fifo = makeFifo('remote');
    const target = startProgram('piperead', { args: [fifo] });
    waitFor(() => taskState(target.pid) === 'S', 'the reader to block');
    const t = stopTask(target.pid);
    const regs = t.getRegs();
    expect(t.arch.interruptedSyscall(regs)).toMatchObject({ nr: t.arch.nr.read, restart: 'ERESTARTSYS' });
    withRemote(t, (r) => {
      for (let i = 0; i < 5; i++) expect(r.getpid()).toBe(target.pid);
      r.munmap(r.mmap(4096), 4096);
    });
    expect(t.getRegs()).toEqual(regs);
    t.detach();
    pause(50);
    expect(target.out()).toBe('');
    writeFileSync(fifo, 'data after the remote calls');
    target.waitOutput(/got data after the remote calls/);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('lets a task in nanosleep finish its sleep, whole, after remote syscalls and detach', () => {
    const target = startProgram('sleeper', { args: ['700'] });
    pause(100);
    const t = stopTask(target.pid);
    expect(t.arch.interruptedSyscall(t.getRegs())).toMatchObject({ nr: t.arch.nr.clock_nanosleep, restart: 'ERESTART_RESTARTBLOCK' });
    withRemote(t, (r) => {
      for (let i = 0; i < 5; i++) expect(r.gettid()).toBe(target.pid);
      r.munmap(r.mmap(4096), 4096);
    });
    t.detach();
    // Each sleep checks it lasted at least 700 ms: a sleep cut short by us would print FAIL.
    target.waitOutput(/slept \d+ ms\n[^]*slept \d+ ms/, 5000);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS|FAIL/);
    expect(target.out()).not.toContain('FAIL');
    expect(target.out()).toContain('PASS');
  });

  it("keeps the task's SIGTRAP handler, and delivers a SIGTRAP that was pending, around remote syscalls", () => {
    const target = startProgram('traphandler');
    const t = stopTask(target.pid);
    process.kill(target.pid, 'SIGTRAP');
    withRemote(t, (r) => {
      for (let i = 0; i < 3; i++) expect(r.getpid()).toBe(target.pid);
    });
    t.detach();
    pause(20);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS|FAIL/);
    expect(target.out()).toBe('PASS traps=1\n');
  });

  it('gives up on a remote syscall that outlasts its deadline, and still puts everything back', () => {
    const target = startProgram('busy');
    const t = stopTask(target.pid);
    const regs = t.getRegs();
    const mapsBefore = mapsText(target.pid);
    let err: unknown;
    const started = performance.now();
    withRemote(
      t,
      (r) => {
        try {
          r.withScratch(new Uint8Array(new BigInt64Array([5n, 0n]).buffer), (ts) => r.syscall('nanosleep', ts, 0));
        } catch (e) {
          err = e;
        }
      },
      { timeoutMs: 200 },
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(isPtraceError(err, 'STOP_TIMEOUT')).toBe(true);
    expect(t.state).toBe('stopped');
    expect(t.getRegs()).toEqual(regs);
    expect(mapsText(target.pid)).toBe(mapsBefore);
    t.detach();
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('reports TASK_DIED when the task is killed during a remote syscall, and nothing else breaks', () => {
    const target = startProgram('busy');
    const t = stopTask(target.pid);
    const r = RemoteSyscalls.open(t);
    // A remote nanosleep of 5 s, and a SIGKILL from another process 300 ms into it.
    const ts = new BigInt64Array([5n, 0n]);
    const killer = spawn('sh', ['-c', `sleep 0.3; kill -9 ${target.pid}`], { stdio: 'ignore', detached: true });
    let err: unknown;
    try {
      r.withScratch(new Uint8Array(ts.buffer), (addr) => r.syscall('nanosleep', addr, 0));
    } catch (e) {
      err = e;
    } finally {
      r.close();
    }
    expect(isPtraceError(err, 'TASK_DIED')).toBe(true);
    expect(err).toMatchObject({ tid: target.pid, status: { kind: 'signaled', signal: SIG.KILL } });
    expect((err as Error).message).toMatch(new RegExp(`Task ${target.pid} died during remote nanosleep: killed by signal 9`));
    expect(t.state).toBe('dead');
    expect(r.isOpen).toBe(false);
    t.detach();
    killer.unref();
    // Another task is unaffected: the machinery still works.
    const other = startProgram('busy');
    const t2 = stopTask(other.pid);
    expect(remoteSyscall(t2, 'getpid', [])).toEqual({ ok: true, value: BigInt(other.pid) });
    t2.detach();
  });

  it('counts ptrace stops and syscalls of one infection-like sequence', () => {
    const target = startProgram('busy');
    resetSyscallCounts();
    resetPtraceStats();
    const started = performance.now();
    const tree = freezeTree(target.pid);
    const t = tree.tracee(target.pid)!;
    const frozen = performance.now();
    const before = syscallCounts();
    let remoteStats = { syscalls: 0, stops: 0 };
    withRemote(t, (r) => {
      const blob = r.mmap(16 * 4096, { prot: PROT.READ | PROT.WRITE | PROT.EXEC });
      t.writeMemory(blob, new Uint8Array(16 * 4096).fill(0x90));
      r.mprotect(blob, 16 * 4096, PROT.READ | PROT.EXEC);
      r.getpid();
      r.munmap(blob, 16 * 4096);
      remoteStats = { ...r.stats };
    });
    const cured = performance.now();
    const inRemote = diff(syscallCounts(), before);
    tree.thaw();
    const all = syscallCounts();
    const stops = ptraceStats();
    console.log(
      `[remote] infection-like sequence on a 1-thread task: freeze ${(frozen - started).toFixed(2)} ms, ` +
        `4 remote syscalls + 64 KiB written ${(cured - frozen).toFixed(2)} ms, thaw ${(performance.now() - cured).toFixed(2)} ms; ` +
        `remote ${JSON.stringify(remoteStats)}; ptrace stops ${stops.stops}, resumes ${stops.resumes}; ` +
        `syscalls in the remote scope ${JSON.stringify(inRemote)}; all ${JSON.stringify(all)}`,
    );
    expect(remoteStats).toEqual({ syscalls: 4, stops: 4 });
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });
});

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

// The whole sequence on every kind of target: freeze the tree, check every thread is seized, run
// remote syscalls in the root (ids, an mmap seen in /proc/PID/maps and a munmap that removes it, a
// write() that lands in its stdout file), thaw, and check the target goes on unharmed (it verifies
// itself and prints PASS; its maps are as before). Also: seccomp suspension, and a scope left open.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readMaps } from '../../src/proc/index.js';
import { freezeTree, Tracee } from '../../src/ptrace/index.js';
import { RemoteSyscalls, withRemote } from '../../src/remote/index.js';
import { PROT, PTRACE_EVENT } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, makeFifo, pause, startProgram, taskState, waitFor, type Target } from '../support/programs.js';

afterEach(() => killAllPrograms());
afterAll(() => cleanupPrograms());

/** The TracerPid of a thread; -1 once it is gone. */
function tracerOf(tid: number): number {
  try {
    return Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${tid}/status`, 'utf8'))![1]);
  } catch {
    return -1;
  }
}

/** The mappings of a process, as text. */
function mapsText(pid: number): string {
  return readFileSync(`/proc/${pid}/maps`, 'utf8');
}

interface Case {
  name: string;
  start: () => { target: Target; after: (t: Target) => void };
}

const PASS = (t: Target) => {
  process.kill(t.pid, 'SIGTERM');
  t.waitOutput(/PASS|FAIL/);
  expect(t.out()).not.toContain('FAIL');
};

const CASES: Case[] = [
  { name: 'sleeper (nanosleep)', start: () => ({ target: startProgram('sleeper', { args: ['40'] }), after: PASS }) },
  { name: 'busy (spinning)', start: () => ({ target: startProgram('busy'), after: PASS }) },
  {
    name: 'piperead (blocked in read)',
    start: () => {
      const fifo = makeFifo('programs');
      const target = startProgram('piperead', { args: [fifo] });
      waitFor(() => taskState(target.pid) === 'S', 'the reader to block');
      return {
        target,
        after: (t) => {
          writeFileSync(fifo, 'late data');
          t.waitOutput(/got late data/);
          PASS(t);
        },
      };
    },
  },
  { name: 'threads (8 threads)', start: () => ({ target: startProgram('threads', { args: ['3'] }), after: PASS }) },
  { name: 'forker (forks and spawns threads)', start: () => ({ target: startProgram('forker'), after: PASS }) },
  {
    name: 'sleeper stopped with SIGSTOP',
    start: () => {
      const target = startProgram('sleeper', { args: ['40'] });
      process.kill(target.pid, 'SIGSTOP');
      waitFor(() => taskState(target.pid) === 'T', 'the sleeper to stop');
      return {
        target,
        after: (t) => {
          expect(taskState(t.pid)).toBe('T');
          process.kill(t.pid, 'SIGCONT');
          PASS(t);
        },
      };
    },
  },
];

describe('the whole sequence on each kind of target', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const { target, after } = c.start();
      pause(20);
      const stable = c.name.startsWith('forker') ? null : mapsText(target.pid);
      const tree = freezeTree(target.pid);
      const message = `remote write from the driver into ${c.name}\n`;
      try {
        for (const t of tree.tracees) expect({ tid: t.tid, tracer: tracerOf(t.tid), state: t.state }).toEqual({ tid: t.tid, tracer: process.pid, state: 'stopped' });
        const root = tree.tracee(target.pid)!;
        const regs = root.getRegs();
        const ip = root.arch.ip(regs);
        expect(readMaps(target.pid).find((m) => m.start <= ip && ip < m.end)?.exec).toBe(true);
        withRemote(root, (r) => {
          expect(r.getpid()).toBe(target.pid);
          expect(r.gettid()).toBe(target.pid);
          const addr = r.mmap(2 * 4096, { prot: PROT.READ });
          expect(readMaps(target.pid).some((m) => m.start <= addr && addr + 2n * 4096n <= m.end && m.read && !m.write)).toBe(true);
          r.munmap(addr, 2 * 4096);
          expect(readMaps(target.pid).some((m) => m.start <= addr && addr < m.end)).toBe(false);
          const bytes = new TextEncoder().encode(message);
          expect(r.withScratch(bytes, (buf) => r.syscall('write', 1, buf, bytes.byteLength))).toBe(BigInt(bytes.byteLength));
        });
        expect(root.getRegs()).toEqual(regs);
      } finally {
        tree.thaw();
      }
      // (Children of the forker may exit as soon as they run again.)
      for (const t of tree.tracees) expect(tracerOf(t.tid)).not.toBe(process.pid);
      expect(target.out()).toContain(message);
      if (stable !== null) expect(mapsText(target.pid)).toBe(stable);
      after(target);
    });
  }
});

describe('seccomp and scopes', () => {
  it('runs a syscall a seccomp filter forbids only with suspendSeccomp', () => {
    const target = startProgram('seccomp');
    let tree = freezeTree(target.pid);
    try {
      expect(withRemote(tree.tracee(target.pid)!, (r) => r.call('getppid'))).toEqual({ ok: false, errno: 1, code: 'EPERM' });
    } finally {
      tree.thaw();
    }
    tree = freezeTree(target.pid, { suspendSeccomp: true });
    try {
      expect(withRemote(tree.tracee(target.pid)!, (r) => r.call('getppid'))).toEqual({ ok: true, value: 1n });
    } finally {
      tree.thaw();
    }
    PASS(target);
  });

  it('closes a scope left open before the tracee is detached', () => {
    const target = startProgram('busy');
    const t = Tracee.seize(target.pid);
    t.interrupt();
    expect(t.waitStop({ timeoutMs: 5000 })).toMatchObject({ kind: 'event', event: PTRACE_EVENT.STOP });
    const r = RemoteSyscalls.open(t);
    expect(() => RemoteSyscalls.open(t)).toThrow(expect.objectContaining({ code: 'SCOPE_OPEN' }));
    const code = r.site;
    expect(r.getpid()).toBe(target.pid);
    t.detach();
    expect(r.isOpen).toBe(false);
    expect(() => r.getpid()).toThrow(expect.objectContaining({ code: 'REMOTE_CLOSED' }));
    // The task runs its own code again, and its trap site holds its own bytes.
    const again = Tracee.seize(target.pid);
    again.interrupt();
    again.waitStop({ timeoutMs: 5000 });
    expect([...again.readMemory(code, 3)]).not.toEqual([0x0f, 0x05, 0xcc]);
    expect(again.arch.ip(again.getRegs())).not.toBe(code + 3n);
    again.detach();
    PASS(target);
  });
});

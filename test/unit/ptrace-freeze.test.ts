// freezeTree on real detached targets: every thread of every task seized and stopped (TracerPid),
// registers where they should be, remote syscalls in any thread, and a thaw after which the target
// runs on unharmed (it verifies itself and prints PASS). Races: a tree that forks and spawns threads
// continuously; group-stopped tasks, zombies, a root that is gone, a task traced by someone else.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readMaps } from '../../src/proc/index.js';
import { freezeTree, isPtraceError, type FrozenTree } from '../../src/ptrace/index.js';
import { withRemote } from '../../src/remote/index.js';
import { SIG } from '../../src/sys/index.js';
import { cleanupPrograms, killAllPrograms, makeFifo, pause, startProgram, taskState, waitFor } from '../support/programs.js';

afterEach(() => killAllPrograms());
afterAll(() => cleanupPrograms());

function tracerOf(tid: number): number {
  try {
    return Number(/TracerPid:\s*(\d+)/.exec(readFileSync(`/proc/${tid}/status`, 'utf8'))![1]);
  } catch {
    return -1;
  }
}

function tidsOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
}

function mapsText(pid: number): string {
  return readFileSync(`/proc/${pid}/maps`, 'utf8');
}

/** Every live thread of the tree is traced by us and stopped, and its registers look sane. */
function checkFrozen(tree: FrozenTree): void {
  for (const p of tree.processes) {
    if (p.state === 'zombie') continue;
    const maps = readMaps(p.pid);
    const stacks = new Set(maps.filter((m) => m.path === '[stack]' || (m.path === undefined && m.read && m.write && !m.exec)));
    for (const th of p.threads) {
      if (th.state === 'zombie') continue;
      expect({ tid: th.tid, tracer: tracerOf(th.tid) }).toEqual({ tid: th.tid, tracer: process.pid });
      expect(taskState(th.tid)).toBe('t');
      const t = th.tracee!;
      expect(t.state).toBe('stopped');
      const regs = t.getRegs();
      const ip = t.arch.ip(regs);
      const sp = t.arch.sp(regs);
      expect(maps.find((m) => m.start <= ip && ip < m.end)?.exec).toBe(true);
      expect([...stacks].some((m) => m.start <= sp && sp < m.end)).toBe(true);
    }
  }
}

describe('freezeTree', () => {
  it('freezes a 1-thread sleeper, runs remote syscalls, and thaws it unharmed', () => {
    const target = startProgram('sleeper', { args: ['50'] });
    target.waitOutput(/slept/);
    const mapsBefore = mapsText(target.pid);
    const t0 = performance.now();
    const tree = freezeTree(target.pid);
    const frozenMs = performance.now() - t0;
    let thawMs = 0;
    try {
      expect(tree.processes).toEqual([expect.objectContaining({ pid: target.pid, state: 'frozen', threads: [expect.objectContaining({ tid: target.pid, state: 'frozen' })] })]);
      checkFrozen(tree);
      const t = tree.tracee(target.pid)!;
      const regs = t.getRegs();
      withRemote(t, (r) => expect(r.getpid()).toBe(target.pid));
      expect(t.getRegs()).toEqual(regs);
    } finally {
      const t1 = performance.now();
      tree.thaw();
      thawMs = performance.now() - t1;
    }
    console.log(`[freeze] 1-thread task: freeze ${frozenMs.toFixed(2)} ms, thaw ${thawMs.toFixed(2)} ms, ${JSON.stringify(tree.stats)}`);
    expect(tracerOf(target.pid)).toBe(0);
    expect(mapsText(target.pid)).toBe(mapsBefore);
    const n = (target.out().match(/slept/g) ?? []).length;
    waitFor(() => (target.out().match(/slept/g) ?? []).length > n + 2, 'the sleeper to go on sleeping');
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS|FAIL/);
    expect(target.out()).not.toContain('FAIL');
  });

  it('freezes all 8 threads of a task (spinning, in futex, in read), runs gettid in each, and thaws', () => {
    const target = startProgram('threads', { args: ['3'] });
    const tids = tidsOf(target.pid);
    expect(tids.length).toBe(8);
    const mapsBefore = mapsText(target.pid);
    const times: string[] = [];
    for (let round = 0; round < 3; round++) {
      const t0 = performance.now();
      const tree = freezeTree(target.pid);
      const frozen = performance.now();
      try {
        const [proc] = tree.processes;
        expect(proc!.threads.map((th) => th.tid).sort((a, b) => a - b)).toEqual(tids);
        expect(proc!.threads.every((th) => th.state === 'frozen')).toBe(true);
        if (round === 0) {
          checkFrozen(tree);
          for (const th of proc!.threads) {
            withRemote(th.tracee!, (r) => {
              expect(r.gettid()).toBe(th.tid);
              expect(r.getpid()).toBe(target.pid);
            });
          }
        }
      } finally {
        const t1 = performance.now();
        tree.thaw();
        times.push(`freeze ${(frozen - t0).toFixed(2)} ms + thaw ${(performance.now() - t1).toFixed(2)} ms`);
      }
      for (const tid of tids) expect(tracerOf(tid)).toBe(0);
    }
    console.log(`[freeze] 8-thread task: ${times.join('; ')}`);
    expect(mapsText(target.pid)).toBe(mapsBefore);
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS|FAIL/);
    expect(target.out()).toBe('PASS 8\n');
  });

  it('freezes a tree that forks and spawns threads continuously, leaving no live task out', () => {
    const target = startProgram('forker');
    pause(100);
    for (let round = 0; round < 10; round++) {
      const tree = freezeTree(target.pid);
      try {
        checkFrozen(tree);
        const pids = new Set(tree.processes.map((p) => p.pid));
        for (const p of tree.processes) {
          if (p.state === 'zombie') {
            expect(taskState(p.pid)).toBe('Z');
            continue;
          }
          // Everything alive in the tree right now is ours, and every thread of a process is in it.
          expect(tidsOf(p.pid).filter((tid) => taskState(tid) !== 'Z')).toEqual(p.threads.filter((t) => t.state !== 'zombie').map((t) => t.tid).sort((a, b) => a - b));
          for (const th of p.threads) {
            const children = readFileSync(`/proc/${p.pid}/task/${th.tid}/children`, 'utf8').split(' ').filter((s) => s.trim() !== '').map(Number);
            for (const c of children) expect({ child: c, inTree: pids.has(c) }).toEqual({ child: c, inTree: true });
          }
        }
        expect(tree.process(target.pid)?.state).toBe('frozen');
        if (round === 0) console.log(`[freeze] forking tree: ${tree.processes.length} processes, ${tree.tracees.length} threads, ${JSON.stringify(tree.stats)}`);
      } finally {
        tree.thaw();
      }
      pause(5 + round * 3);
    }
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS \d+/);
  });

  it('freezes only the root with children: false', () => {
    const target = startProgram('forker');
    pause(50);
    const tree = freezeTree(target.pid, { children: false });
    try {
      expect(tree.processes.map((p) => p.pid)).toEqual([target.pid]);
    } finally {
      tree.thaw();
    }
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS \d+/);
  });

  it('reports a task stopped with SIGSTOP as stopped, and it stays stopped after thaw', () => {
    const target = startProgram('sleeper', { args: ['30'] });
    process.kill(target.pid, 'SIGSTOP');
    waitFor(() => taskState(target.pid) === 'T', 'the sleeper to stop');
    const tree = freezeTree(target.pid);
    try {
      const [p] = tree.processes;
      expect(p).toMatchObject({ pid: target.pid, state: 'stopped', threads: [{ tid: target.pid, state: 'stopped', stopSignal: SIG.STOP }] });
      withRemote(p!.threads[0]!.tracee!, (r) => expect(r.getpid()).toBe(target.pid));
    } finally {
      tree.thaw();
    }
    pause(50);
    expect(taskState(target.pid)).toBe('T');
    expect(tracerOf(target.pid)).toBe(0);
    const n = target.out().length;
    pause(100);
    expect(target.out().length).toBe(n);
    process.kill(target.pid, 'SIGCONT');
    waitFor(() => target.out().length > n + 20, 'the sleeper to go on after SIGCONT');
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS|FAIL/);
    expect(target.out()).not.toContain('FAIL');
  });

  it('records an unreaped child as a zombie', () => {
    const target = startProgram('zombie');
    const child = Number(target.waitOutput(/child (\d+)/)[1]);
    const tree = freezeTree(target.pid);
    try {
      expect(tree.process(child)).toEqual({ pid: child, ppid: target.pid, state: 'zombie', threads: [{ tid: child, state: 'zombie', tracee: null }] });
      expect(tree.process(target.pid)?.state).toBe('frozen');
      expect(tree.tracees.map((t) => t.tid)).toEqual([target.pid]);
    } finally {
      tree.thaw();
    }
    expect(taskState(child)).toBe('Z');
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS/);
  });

  it('lets a task frozen inside read() on a pipe finish its read after thaw', () => {
    const fifo = makeFifo('freeze');
    const target = startProgram('piperead', { args: [fifo] });
    waitFor(() => taskState(target.pid) === 'S', 'the reader to block');
    const tree = freezeTree(target.pid);
    try {
      const t = tree.tracee(target.pid)!;
      expect(t.arch.interruptedSyscall(t.getRegs())).toMatchObject({ nr: t.arch.nr.read, restart: 'ERESTARTSYS' });
    } finally {
      tree.thaw();
    }
    writeFileSync(fifo, 'after thaw');
    target.waitOutput(/got after thaw/);
  });

  it('fails with TASK_GONE naming a root that already exited', () => {
    const target = startProgram('exiter');
    waitFor(() => taskState(target.pid) === null || taskState(target.pid) === 'Z', 'the exiter to exit');
    let err: unknown;
    try {
      freezeTree(target.pid);
    } catch (e) {
      err = e;
    }
    expect(isPtraceError(err, 'TASK_GONE')).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`task ${target.pid}: it (does not exist|is a zombie)`));
  });

  it('fails with TASK_GONE, and leaves nothing traced, when the root dies in the middle of the freeze', () => {
    const target = startProgram('threads', { args: ['3'] });
    const tids = tidsOf(target.pid);
    let seized = 0;
    let err: unknown;
    try {
      // SIGKILL the root once two of its threads are seized, before the others are.
      freezeTree(target.pid, { onSeize: () => ++seized === 2 && process.kill(target.pid, 'SIGKILL') });
    } catch (e) {
      err = e;
    }
    expect(isPtraceError(err, 'TASK_GONE')).toBe(true);
    expect((err as Error).message).toBe(`Cannot freeze task ${target.pid}: it exited during the freeze`);
    waitFor(() => taskState(target.pid) === null || taskState(target.pid) === 'Z', 'the root to be gone');
    for (const tid of tids) expect(tracerOf(tid)).not.toBe(process.pid);
  });

  it('drops a child that dies in the middle of the freeze (or keeps it as the zombie it becomes)', () => {
    const target = startProgram('forker');
    pause(50);
    let victim = 0;
    const tree = freezeTree(target.pid, {
      onSeize: (_tid, pid) => {
        if (victim === 0 && pid !== target.pid) {
          victim = pid;
          process.kill(pid, 'SIGKILL');
        }
      },
    });
    try {
      expect(victim).not.toBe(0);
      const p = tree.process(victim);
      if (p !== undefined) expect(p).toMatchObject({ state: 'zombie', threads: [{ tid: victim, state: 'zombie', tracee: null }] });
      checkFrozen(tree);
      expect(tree.process(target.pid)?.state).toBe('frozen');
    } finally {
      tree.thaw();
    }
    process.kill(target.pid, 'SIGTERM');
    target.waitOutput(/PASS \d+/);
  });

  it('fails with PTRACE_BUSY naming the tracer, and leaves nothing traced by us', () => {
    const target = startProgram('threads', { args: ['1'] });
    const tids = tidsOf(target.pid);
    // Another process traces one of its threads (not the leader: part of the tree is seized first).
    const victim = tids[tids.length - 1]!;
    const tracer = startProgram('tracer', { args: [String(victim)] });
    let err: unknown;
    try {
      freezeTree(target.pid);
    } catch (e) {
      err = e;
    }
    expect(isPtraceError(err, 'PTRACE_BUSY')).toBe(true);
    expect(err).toMatchObject({ tid: victim, tracerPid: tracer.pid });
    expect((err as Error).message).toContain(`already traced by process ${tracer.pid}`);
    for (const tid of tids) if (tid !== victim) expect(tracerOf(tid)).toBe(0);
  });
});

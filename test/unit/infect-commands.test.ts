// src/infect on real targets through the TypeScript ptrace core: freeze, infect, every command
// checked against an independent source (/proc, the target's own facts), thread mode in every
// thread, cure, thaw; the target then verifies itself (registers incl. AVX-512, mask, pending
// signal, sigactions, altstack, umask, fds, memory, timers) and must print PASS. Also the errors:
// a closed fd, a bad range, a command after the cure, and the figures (stops, remote syscalls).
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { areaLayout, isInfectError, Parasite } from '../../src/infect/index.js';
import { decodeSigframe } from '../../arch/x86_64/sigframe.js';
import { MISC_ITEM, MISC_THREAD_ITEMS, PARASITE_STACK_MIN, RLIMIT_COUNT } from '../../parasite/protocol.js';
import { freezeTree, ptraceStats, resetPtraceStats, type FrozenTree } from '../../src/ptrace/index.js';
import { hostArch, O, open, resetSyscallCounts, syscallCounts } from '../../src/sys/index.js';
import { readyFacts, sigset, statusField as status } from '../support/parasite_target.js';
import { cleanupPrograms, killAllPrograms, startProgram, workDir, type Target } from '../support/programs.js';

const x86 = hostArch() === 'x86_64';
let serial = 0;
afterEach(() => killAllPrograms());
afterAll(() => cleanupPrograms());



/** Starts test/programs/parasite_target.c; returns it and its READY facts. */
function startTarget(args: string[]): { target: Target; facts: Record<string, string>; marker: string } {
  const marker = join(workDir(), `infect-marker-${++serial}`);
  const target = startProgram('parasite_target', { args: [marker, ...args] });
  return { target, facts: readyFacts(target.waitOutput(/^READY (.*)$/m)[1]!), marker };
}

function thawAndVerify(tree: FrozenTree, t: Target): void {
  tree.thaw();
  process.kill(t.pid, 'SIGTERM');
  t.waitOutput(/^(PASS|FAIL)$/m, 10_000);
  expect(t.out()).toMatch(/^PASS$/m);
}

describe('the shared area layout', () => {
  it('keeps every part apart, aligned, and the stacks big enough', () => {
    const L = areaLayout({ blobSize: 3070, page: 4096, argsSize: 100_000, frameSize: 3148, frameAlign: 64 });
    expect(L.ctl).toBe(4096);
    expect(L.args % 4096).toBe(0);
    expect(L.argsSize).toBeGreaterThanOrEqual(100_000);
    expect(L.frame % 64).toBe(0);
    expect(L.threadFrame % 64).toBe(0);
    expect(L.stackTop - (L.threadArgs + L.threadArgsSize)).toBeGreaterThanOrEqual(PARASITE_STACK_MIN);
    const parts = [
      [L.blob, 3070], [L.ctl, 512], [L.args, L.argsSize], [L.threadArgs, L.threadArgsSize],
      [L.threadStackTop - 65536, 65536], [L.frame, L.frameSize], [L.threadFrame, L.frameSize],
    ].sort((a, b) => a[0]! - b[0]!);
    for (let i = 0; i + 1 < parts.length; i++) expect(parts[i]![0]! + parts[i]![1]!).toBeLessThanOrEqual(parts[i + 1]![0]!);
    expect(L.threadFrame + L.frameSize).toBeLessThanOrEqual(L.size);
    expect(L.size % 4096).toBe(0);
  });
});

describe.runIf(x86)('Parasite on a live target', () => {
  it('runs every command, checked against /proc, and the target goes on unharmed', () => {
    const { target, facts } = startTarget(['--threads', '2', '--mem', '8', '--mode', 'spin']);
    const pid = target.pid;
    const tree = freezeTree(pid);
    const leader = tree.tracee(pid)!;
    const blocked = BigInt(`0x${status(pid, 'SigBlk')}`);
    resetPtraceStats();
    resetSyscallCounts();
    const parasite = Parasite.infect(leader);
    const infectCalls = syscallCounts();
    const infectStops = ptraceStats().stops;
    // The parasite area is one shared mapping, the frame the leader's own state.
    expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain(`${parasite.address.toString(16)}-`);
    expect(parasite.ping([1n, 2n, 3n, 4n, 5n])).toEqual([1n, 2n, 3n, 4n, 5n]);

    const acts = parasite.sigactions();
    expect(new Set(acts.filter((a) => a.handler > 1n).map((a) => a.signal))).toEqual(sigset(status(pid, 'SigCgt')));
    expect(new Set(acts.filter((a) => a.handler === 1n).map((a) => a.signal))).toEqual(sigset(status(pid, 'SigIgn')));
    expect(acts[15 - 1]!.mask).toBe((1n << 11n) | (1n << 27n));

    const timerIds = [...readFileSync(`/proc/${pid}/timers`, 'utf8').matchAll(/^ID: (\d+)$/gm)].map((m) => Number(m[1]));
    const { misc, timers } = parasite.misc(timerIds);
    expect(misc.valid).toBe((1n << BigInt(MISC_ITEM.RLIMIT0 + RLIMIT_COUNT)) - 1n);
    expect(misc.pid).toBe(pid);
    expect(misc.umask).toBe(Number.parseInt(status(pid, 'Umask'), 8));
    expect(misc.name).toBe('ptarget-main');
    expect(misc.tidAddress).toBe(BigInt(facts['tidaddr']!));
    expect(misc.altstack?.sp).toBe(BigInt(facts['altstack']!.split(':')[0]!));
    expect(misc.personality).toBe(Number.parseInt(readFileSync(`/proc/${pid}/personality`, 'utf8'), 16));
    expect(timers).toHaveLength(1);
    expect(timers[0]).toMatchObject({ id: timerIds[0], status: 0 });
    expect(timers[0]!.spec.intervalSec).toBe(300n);

    const list = [0, 1, 2, 20, 21, 22, 23, 24, 25];
    const got = parasite.fds(list);
    try {
      expect(got.map((fd) => readlinkSync(`/proc/self/fd/${fd}`))).toEqual(list.map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`)));
    } finally {
      for (const fd of got) closeSync(fd);
    }
    const many = parasite.fds(Array(600).fill(20));
    expect(many).toHaveLength(600);
    for (const fd of many) closeSync(fd);
    let err: unknown;
    try {
      parasite.fds([20, 19]);
    } catch (e) {
      err = e;
    }
    expect(isInfectError(err, 'PARASITE_COMMAND')).toBe(true);
    expect(err).toMatchObject({ command: 'FDS', errnoName: 'EBADF', index: 1 });

    // MEMORY: a range that faults stops the run, reported with what went in before it.
    const out = open(join(workDir(), `pages-${serial}.img`), { flags: O.WRONLY | O.CREAT | O.TRUNC });
    try {
      const mem = BigInt(facts['mem']!);
      const r = parasite.memory([{ addr: mem, len: 8192n }, { addr: 0x10000n, len: 4096n }], { outFd: out });
      expect(r).toMatchObject({ bytes: 8192, failed: { index: 1, code: 'EFAULT', address: 0x10000n } });
    } finally {
      closeSync(out);
    }

    // Thread mode in each other thread.
    for (const th of tree.process(pid)!.threads.filter((x) => x.tid !== pid)) {
      const m = parasite.threadMisc(th.tracee!);
      expect(m.tid).toBe(th.tid);
      expect(m.name).toBe(readFileSync(`/proc/${pid}/task/${th.tid}/comm`, 'utf8').trim());
      expect(m.valid).toBe(MISC_THREAD_ITEMS.reduce((acc, b) => acc | (1n << BigInt(b)), 0n));
    }
    expect(parasite.stats.threadStops).toBe(24 * 2);

    const beforeCure = ptraceStats().stops;
    parasite.cure();
    const cureStops = ptraceStats().stops - beforeCure;
    const calls = syscallCounts();
    const sum = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
    console.log(
      `infection: ${infectStops} stops to infect, ${parasite.stats.finiStops} from FINI to rt_sigreturn, ${cureStops} to cure in all; ` +
        `${parasite.stats.remoteSyscalls} remote syscalls; ${parasite.stats.commands} commands, ${parasite.stats.replies} replies; ` +
        `${parasite.stats.threadRuns} thread runs, ${parasite.stats.threadStops} stops; ` +
        `driver syscalls: ${sum(infectCalls)} to infect (${infectCalls['ptrace'] ?? 0} ptrace), ${sum(calls)} for the whole session (${calls['ptrace'] ?? 0} ptrace)`,
    );
    expect(parasite.stats.remoteSyscalls).toBe(2);
    expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).not.toContain(`${parasite.address.toString(16)}-`);
    expect(BigInt(`0x${status(pid, 'SigBlk')}`)).toBe(blocked);
    expect(() => parasite.ping()).toThrow(expect.objectContaining({ code: 'PARASITE_CURED' }));
    thawAndVerify(tree, target);
  });

  it('brings a target blocked in syscalls back into them (read restarted, nanosleep EINTR)', () => {
    const { target } = startTarget(['--threads', '3', '--mem', '4', '--mode', 'block']);
    const tree = freezeTree(target.pid);
    const leader = tree.tracee(target.pid)!;
    const before = leader.getRegs();
    expect(leader.arch.interruptedSyscall(before)?.restart).toBe('ERESTARTSYS');
    const parasite = Parasite.infect(leader);
    for (const th of tree.process(target.pid)!.threads.filter((x) => x.tid !== target.pid)) parasite.threadMisc(th.tracee!);
    expect(parasite.sigactions()).toHaveLength(64);
    parasite.cure();
    // After its rt_sigreturn the leader sits right before its read() again.
    const after = leader.getRegs();
    const fixed = leader.arch.restartForImage(before).regs;
    for (const r of ['rip', 'rsp', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r12', 'r15', 'eflags']) expect([r, after[r]]).toEqual([r, fixed[r]]);
    thawAndVerify(tree, target);
  });

  it('puts the task back by hand when the parasite faults', () => {
    const { target } = startTarget(['--mem', '4', '--mode', 'spin']);
    const tree = freezeTree(target.pid);
    const leader = tree.tracee(target.pid)!;
    const regs = leader.getRegsBytes().slice();
    const mask = leader.getSigmask();
    const parasite = Parasite.infect(leader);
    // The daemon waits in recvmsg; fill its code with int3: the next command makes it trap.
    const area = `/proc/${target.pid}/map_files/${parasite.address.toString(16)}-${(parasite.address + BigInt(parasite.layout.size)).toString(16)}`;
    const fd = openSync(area, 'r+');
    writeSync(fd, Buffer.alloc(parasite.layout.ctl, 0xcc), 0, parasite.layout.ctl, 0);
    closeSync(fd);
    let err: unknown;
    try {
      parasite.ping();
    } catch (e) {
      err = e;
    }
    expect(isInfectError(err, 'PARASITE_FAULT')).toBe(true);
    expect(err).toMatchObject({ signal: 5 });
    // Registers and mask as they were, the area gone, the next command refused.
    expect(Buffer.from(leader.getRegsBytes()).equals(Buffer.from(regs))).toBe(true);
    expect(leader.getSigmask()).toBe(mask);
    expect(readFileSync(`/proc/${target.pid}/maps`, 'utf8')).not.toContain(`${parasite.address.toString(16)}-`);
    expect(() => parasite.sigactions()).toThrow(expect.objectContaining({ code: 'PARASITE_CURED' }));
    parasite.cure();
    thawAndVerify(tree, target);
  });

  it('reports a target killed while infected as TASK_DIED and leaves nothing of its own behind', () => {
    const { target } = startTarget(['--threads', '1', '--mem', '4', '--mode', 'spin']);
    const tree = freezeTree(target.pid);
    const parasite = Parasite.infect(tree.tracee(target.pid)!);
    const fdsBefore = readdirSync('/proc/self/fd').length;
    process.kill(target.pid, 'SIGKILL');
    expect(() => parasite.sigactions()).toThrow(expect.objectContaining({ code: 'TASK_DIED' }));
    expect(() => parasite.ping()).toThrow(expect.objectContaining({ code: 'PARASITE_CURED' }));
    parasite.cure();
    // Our sockets and the pipe are closed; our view of the area is gone.
    expect(readdirSync('/proc/self/fd').length).toBeLessThan(fdsBefore);
    expect(readFileSync('/proc/self/maps', 'utf8')).not.toMatch(/dev\/zero \(deleted\)/);
    tree.thaw();
  });

  it('builds the leader frame from the leader: its mask, its registers', () => {
    const { target } = startTarget(['--mem', '4', '--mode', 'spin']);
    const tree = freezeTree(target.pid);
    const leader = tree.tracee(target.pid)!;
    const regs = leader.getRegs();
    const mask = leader.getSigmask();
    const parasite = Parasite.infect(leader);
    const L = parasite.layout;
    const frameBytes = readFileSync(`/proc/${target.pid}/map_files/${parasite.address.toString(16)}-${(parasite.address + BigInt(L.size)).toString(16)}`).subarray(L.frame, L.frame + L.frameSize);
    const frame = decodeSigframe(frameBytes, parasite.address + BigInt(L.frame));
    expect(frame.sigmask).toBe(mask);
    expect(frame.regs['rip']).toBe(regs['rip']);
    expect(frame.regs['rsp']).toBe(regs['rsp']);
    parasite.cure();
    thawAndVerify(tree, target);
  });
});

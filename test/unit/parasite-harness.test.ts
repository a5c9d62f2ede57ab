// The x86_64 parasite blob driven by a C harness (test/support/parasite_harness.c), without the
// TypeScript ptrace core: every command checked against an independent source (/proc, the
// target's own facts, the memory pattern), FINI and the cure, then the target verifies itself
// (registers incl. AVX/AVX-512, mask, pending signal, sigactions, altstack, umask, fds, memory,
// timers) and must print PASS. And the driver killed with SIGKILL while the parasite waits for a
// command, or while it waits for room in the MEMORY pipe: the target must go on unharmed.
import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeMisc, decodeSigactions, decodeTimers, MISC_ITEM, MISC_THREAD_ITEMS, RLIMIT_COUNT } from '../../parasite/protocol.js';
import { hostArch } from '../../src/sys/index.js';
import { buildHarness, fields, Harness, type HarnessBuild } from '../support/parasite_harness.js';
import { checkPattern, sigset, statusField as status } from '../support/parasite_target.js';
import { isDead, waitFor } from '../support/programs.js';

const x86 = hostArch() === 'x86_64';
let build: HarnessBuild;
const live: Harness[] = [];
let serial = 0;

beforeAll(() => {
  if (x86) build = buildHarness();
});
afterEach(async () => {
  for (const h of live.splice(0)) {
    await h.close();
    if (h.pid > 0 && !isDead(h.pid)) {
      try {
        process.kill(h.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});
afterAll(() => {
  if (build !== undefined) rmSync(build.dir, { recursive: true, force: true });
});

async function start(args: string[]): Promise<{ h: Harness; marker: string }> {
  const marker = join(build.dir, `marker-${++serial}`);
  const h = await Harness.start(build, [marker, ...args]);
  live.push(h);
  return { h, marker };
}



/** /proc/PID/limits as {cur, max} per row, in RLIMIT order (unlimited = 2^64 - 1). */
function limits(pid: number): { cur: bigint; max: bigint }[] {
  const rows = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  const val = (s: string): bigint => (s === 'unlimited' ? (1n << 64n) - 1n : BigInt(s));
  return rows.map((row) => {
    const cols = row.slice(26).trim().split(/\s+/);
    return { cur: val(cols[0]!), max: val(cols[1]!) };
  });
}


async function finishAndVerify(h: Harness, marker: string): Promise<void> {
  const fini = fields(await h.cmd('fini'));
  expect(fini).toMatchObject({ state: '3', error: '0', regs: 'ok', xstate: 'same', sigmask: 'same' });
  expect(fields(await h.cmd('cure'))['remote_syscalls']).toBe('1');
  expect(status(h.pid, 'TracerPid')).toBe('0');
  process.kill(h.pid, 'SIGTERM');
  expect(fields(await h.cmd('wait-exit'))).toMatchObject({ code: '0', signal: '0' });
  expect(readFileSync(marker, 'utf8')).toMatch(/^PASS/);
}

describe.runIf(x86)('x86_64 parasite blob, driven by a C harness', () => {
  it('runs every command on a spinning target, checked against /proc, and the target goes on unharmed', async () => {
    const { h, marker } = await start(['--mem', '64', '--mode', 'spin']);
    const pid = h.pid;
    const seized = await h.cmd('seize');
    const leaderMask = BigInt(seized.split(' ')[2]!.split(':')[3]!);
    // The mask the driver saved is the task's own (read before the parasite blocks everything).
    expect(leaderMask).toBe(BigInt(`0x${status(pid, 'SigBlk')}`));
    const umask = Number.parseInt(status(pid, 'Umask'), 8);
    const infected = fields(await h.cmd('infect'));
    expect(infected).toMatchObject({ remote_syscalls: '3', peer: String(pid) });
    expect(Number(infected['blob'])).toBeLessThan(4096);

    const ping = fields(await h.cmd('ping'));
    expect(ping).toMatchObject({ status: '0', a0: '0x1122334455667788', a4: '0xa4a4a4a4a4a4a4a4' });
    expect(fields(await h.cmd('raw 99'))['status']).toBe('-38');

    // SIGACTIONS against SigCgt/SigIgn, and the flags and masks the target installed.
    const sa = fields(await h.cmd('sigactions'));
    expect(sa).toMatchObject({ status: '0', nr: '64' });
    const acts = decodeSigactions(Buffer.from(sa['data']!, 'hex'));
    const caught = new Set(acts.filter((a) => a.handler > 1n).map((a) => a.signal));
    const ignored = new Set(acts.filter((a) => a.handler === 1n).map((a) => a.signal));
    expect(caught).toEqual(sigset(status(pid, 'SigCgt')));
    expect(ignored).toEqual(sigset(status(pid, 'SigIgn')));
    const term = acts[15 - 1]!;
    expect(term.flags & 0xfc000004n).toBe(0x1c000004n); // SA_RESTART | SA_ONSTACK | SA_RESTORER | SA_SIGINFO
    expect(term.mask).toBe((1n << 11n) | (1n << 27n)); // SIGUSR2, SIGWINCH
    expect(term.restorer).not.toBe(0n);
    expect(acts[28 - 1]!.flags & 0xc0000000n).toBe(0xc0000000n); // SIGWINCH: SA_RESETHAND | SA_NODEFER
    expect(acts[9 - 1]!.handler).toBe(0n);
    expect(acts[19 - 1]!.handler).toBe(0n);

    // MISC against /proc and the target's facts.
    const timerIds = [...readFileSync(`/proc/${pid}/timers`, 'utf8').matchAll(/^ID: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(timerIds.length).toBe(1);
    const misc = fields(await h.cmd(`misc ${timerIds.join(',')}`));
    expect(misc).toMatchObject({ status: '0', nr: '1' });
    const data = Buffer.from(misc['data']!, 'hex');
    const m = decodeMisc(data);
    expect(m.valid).toBe((1n << BigInt(MISC_ITEM.RLIMIT0 + RLIMIT_COUNT)) - 1n);
    expect(m.firstError).toBe(0);
    expect(m.pid).toBe(pid);
    expect(m.tid).toBe(pid);
    expect(m.umask).toBe(umask);
    expect(m.umask).toBe(0o027);
    expect(m.personality).toBe(Number.parseInt(readFileSync(`/proc/${pid}/personality`, 'utf8'), 16));
    expect(m.name).toBe(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    expect(m.tidAddress).toBe(BigInt(h.facts['tidaddr']!));
    const [altSp, altSize] = h.facts['altstack']!.split(':');
    expect(m.altstack).toEqual({ sp: BigInt(altSp!), flags: 0, size: BigInt(altSize!) });
    expect(m.timerslackNs).toBe(BigInt(readFileSync(`/proc/${pid}/timerslack_ns`, 'utf8').trim()));
    expect(m.childSubreaper).toBe(1);
    expect(m.pdeathsig).toBe(12);
    expect(m.noNewPrivs).toBe(Number(status(pid, 'NoNewPrivs')));
    expect(m.dumpable).toBe(1);
    expect(m.rlimits).toEqual(limits(pid));
    expect(m.itimers.real?.intervalSec).toBe(500n);
    expect(m.itimers.real!.valueSec > 0n && m.itimers.real!.valueSec <= 1000n).toBe(true);
    expect(m.itimers.virtual!.valueSec <= 900n).toBe(true);
    const [timer] = decodeTimers(data, 1);
    expect(timer).toMatchObject({ id: timerIds[0], status: 0 });
    expect(timer!.spec.intervalSec).toBe(300n);
    expect(timer!.spec.valueSec > 0n && timer!.spec.valueSec <= 2000n).toBe(true);

    // FDS against readlink /proc/PID/fd.
    const fdList = [0, 1, 2, 20, 21, 22, 23, 24, 25];
    const fdsLine = await h.cmd(`fds ${fdList.join(',')}`);
    expect(fields(fdsLine)).toMatchObject({ status: '0', batches: '1', received: String(fdList.length) });
    for (const fd of fdList) expect(fdsLine).toContain(` ${fd}=${readlinkSync(`/proc/${pid}/fd/${fd}`)} `);
    // 300 fds: two batches (253 + 47), in order.
    const many = fields(await h.cmd(`fds ${Array(300).fill(23).join(',')}`));
    expect(many).toMatchObject({ status: '0', batches: '2', received: '300' });
    // A closed fd fails the whole command before anything is sent.
    expect(fields(await h.cmd('fds 20,19,21'))).toMatchObject({ status: '-9', index: '1', received: '0', batches: '1' });

    // MEMORY: the whole pattern in three ranges and an empty one, 512 KiB batches into a 1 MiB pipe.
    const mem = BigInt(h.facts['mem']!);
    const len = BigInt(h.facts['len']!);
    const third = (len / 3n) & ~4095n;
    const hex = (v: bigint): string => v.toString(16);
    const ranges = [`${hex(mem)}:${hex(third)}`, `${hex(mem + third)}:0`, `${hex(mem + third)}:${hex(third)}`, `${hex(mem + 2n * third)}:${hex(len - 2n * third)}`];
    const out = join(build.dir, 'pages.img');
    const memory = fields(await h.cmd(`memory ${out} 524288 1048576 ${ranges.join(',')}`));
    expect(memory).toMatchObject({ status: '0', index: '-1', nr: '4', bytes: String(len), spliced: String(len) });
    expect(Number(memory['replies'])).toBe(Number(len / 524288n));
    checkPattern(readFileSync(out));
    // Whole pipe per batch.
    const memory2 = fields(await h.cmd(`memory ${out} 0 1048576 ${hex(mem)}:${hex(len)}`));
    expect(memory2).toMatchObject({ status: '0', spliced: String(len), replies: String(Number(len / 1048576n)) });
    const pvr = fields(await h.cmd(`pvr ${join(build.dir, 'pvr.img')} ${hex(mem)}:${hex(len)}`));
    const mib = Number(len) / 1048576;
    console.log(
      `parasite MEMORY (vmsplice + splice to a file, 1 MiB batches): ${(mib / Number(memory2['seconds'])).toFixed(0)} MiB/s; ` +
        `process_vm_readv into page-aligned memory: ${(mib / Number(pvr['read_seconds'])).toFixed(0)} MiB/s, ` +
        `+ write() to a file: ${(mib / (Number(pvr['read_seconds']) + Number(pvr['write_seconds']))).toFixed(0)} MiB/s`,
    );
    // A failing range: the first page goes in, the unmapped one fails with EFAULT, both reported.
    const fail = fields(await h.cmd(`memory ${out} 0 1048576 ${hex(mem)}:1000,10000:1000`));
    expect(fail).toMatchObject({ status: '-14', index: '1', bytes: '4096', spliced: '4096', replies: '1', a2: '0x10000' });
    checkPattern(readFileSync(out));
    // A range not page-aligned: refused before anything moves.
    expect(fields(await h.cmd(`memory ${out} 0 1048576 ${hex(mem)}:1000,${hex(mem + 8n)}:1000`))).toMatchObject({ status: '-22', index: '1', bytes: '0' });

    await finishAndVerify(h, marker);
  });

  it('runs MISC in every thread of a target blocked in syscalls (thread mode), and the daemon after', async () => {
    const { h, marker } = await start(['--threads', '4', '--mem', '4', '--mode', 'block']);
    const pid = h.pid;
    // The target says it is ready just before its main thread enters read(): wait until it is in.
    const READ = hostArch() === 'x86_64' ? '0' : '63';
    waitFor(() => readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0] === READ, `the main thread of ${pid} to block in read()`);
    const seized = (await h.cmd('seize')).split(' ').slice(2);
    expect(seized.length).toBe(5);
    // The main thread sits in read(): -ERESTARTSYS, to be restarted after rt_sigreturn.
    expect(seized[0]!.split(':')[2]).toBe('-512');
    await h.cmd('infect');
    const altstacks = new Map(h.facts['threads']!.split(',').map((t) => t.split(':') as [string, string]));
    const threadItems = MISC_THREAD_ITEMS.reduce((acc, bit) => acc | (1n << BigInt(bit)), 0n);
    for (const entry of seized.slice(1)) {
      const tid = Number(entry.split(':')[0]);
      const r = fields(await h.cmd(`thread ${tid}`));
      expect(r).toMatchObject({ status: '0', seq: '77', state: '3', error: '0', regs: 'ok', xstate: 'same', sigmask: 'same' });
      const misc = decodeMisc(Buffer.from(r['data']!, 'hex'));
      expect(misc.valid).toBe(threadItems);
      expect(misc.pid).toBe(pid);
      expect(misc.tid).toBe(tid);
      expect(misc.name).toBe(readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim());
      expect(misc.altstack).toEqual({ sp: BigInt(altstacks.get(String(tid))!), flags: 0, size: 65536n });
      expect(misc.umask).toBeUndefined();
      // The thread's own mask (SIGURG blocked), not the all-blocked one the driver set.
      expect(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')).toMatch(new RegExp(`SigBlk:\\s*${BigInt(entry.split(':')[3]!).toString(16).padStart(16, '0')}`));
      // About 2 stops per syscall: the per-thread items, then rt_sigreturn's entry and exit.
      expect(Number(r['stops'])).toBeLessThanOrEqual(2 * (MISC_THREAD_ITEMS.length + 1));
    }
    expect(fields(await h.cmd('ping'))['status']).toBe('0');
    await finishAndVerify(h, marker);
  });

  it('leaves at once through rt_sigreturn on a bad control block or when nobody listens', async () => {
    const { h, marker } = await start(['--threads', '1', '--mem', '4', '--mode', 'spin']);
    await h.cmd('seize');
    const bad = fields(await h.cmd('probe-exit badmagic'));
    expect(bad).toMatchObject({ state: '3', error: '-71', regs: 'ok', xstate: 'same', sigmask: 'same' });
    const nobody = fields(await h.cmd('probe-exit badaddr'));
    expect(nobody).toMatchObject({ state: '3', error: '-111', regs: 'ok', xstate: 'same', sigmask: 'same' });
    expect(fields(await h.cmd('cure'))['remote_syscalls']).toBe('1');
    process.kill(h.pid, 'SIGTERM');
    expect(fields(await h.cmd('wait-exit'))).toMatchObject({ code: '0' });
    expect(readFileSync(marker, 'utf8')).toMatch(/^PASS/);
  });

  async function killDriverThenVerify(h: Harness, marker: string): Promise<void> {
    const pid = h.pid;
    await h.killDriver();
    // The tracer is gone: every thread is untraced and runs its own code again.
    waitFor(() => status(pid, 'TracerPid') === '0' && !/^[tT]/.test(status(pid, 'State')), `pid ${pid} to run untraced`);
    // The parasite returned through its sigframe: the task's own mask (SIGHUP, SIGRTMIN+3) is back.
    const own = (1n << 0n) | (1n << 36n);
    waitFor(() => BigInt(`0x${status(pid, 'SigBlk')}`) === own, `pid ${pid} to get its own signal mask back`);
    process.kill(pid, 'SIGTERM');
    waitFor(() => existsSync(marker) && readFileSync(marker, 'utf8').endsWith('\n'), `pid ${pid} to write its marker`, 10_000);
    expect(readFileSync(marker, 'utf8')).toMatch(/^PASS/);
    waitFor(() => isDead(pid), `pid ${pid} to exit`, 10_000);
  }

  it('survives the driver killed with SIGKILL while the parasite waits for a command', async () => {
    const { h, marker } = await start(['--threads', '3', '--mem', '4', '--mode', 'spin']);
    await h.cmd('seize');
    await h.cmd('infect');
    expect(fields(await h.cmd('ping'))['status']).toBe('0');
    await killDriverThenVerify(h, marker);
  });

  it('survives the driver killed with SIGKILL while MEMORY waits for room in the pipe', async () => {
    const { h, marker } = await start(['--threads', '2', '--mem', '16', '--mode', 'block']);
    await h.cmd('seize');
    await h.cmd('infect');
    const mem = BigInt(h.facts['mem']!).toString(16);
    const len = BigInt(h.facts['len']!).toString(16);
    // 64 KiB pipe, 16 MiB asked: the parasite fills it, replies once, and waits in ppoll.
    expect(fields(await h.cmd(`memory-stall - 0 65536 ${mem}:${len}`))).toMatchObject({ replies: '1', flags: '1' });
    await killDriverThenVerify(h, marker);
  });
});

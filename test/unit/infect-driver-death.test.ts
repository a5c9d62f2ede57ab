// The driver dies with SIGKILL while its parasite lives in a task: the driver runs in a separate
// `node` process (the built dist/), infects a multi-threaded target, and is killed while the
// parasite waits for a command, or while a MEMORY transfer is blocked on a full pipe. The target
// must go on unharmed: untraced, its own mask back, no fd left behind, PASS when asked to verify.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { hostArch } from '../../src/sys/index.js';
import { REPO_ROOT } from '../support/paths.js';
import { statusField as status } from '../support/parasite_target.js';
import { cleanupPrograms, killAllPrograms, startProgram, waitFor, workDir } from '../support/programs.js';

const DIST = join(REPO_ROOT, 'dist', 'src');
const drivers = new Set<ChildProcess>();
afterEach(() => {
  for (const d of drivers) d.kill('SIGKILL');
  drivers.clear();
  killAllPrograms();
});
afterAll(() => cleanupPrograms());


/** The driver: freeze, infect, thread mode in every thread, PING; then `stall` decides what it waits in. */
function driverScript(pid: number, stall: 'idle' | 'memory', mem: bigint): string {
  return `
    const { freezeTree } = await import(${JSON.stringify(join(DIST, 'ptrace', 'index.js'))});
    const { Parasite } = await import(${JSON.stringify(join(DIST, 'infect', 'index.js'))});
    const { pipe2 } = await import(${JSON.stringify(join(DIST, 'sys', 'index.js'))});
    const tree = freezeTree(${pid});
    const parasite = Parasite.infect(tree.tracee(${pid}));
    for (const th of tree.process(${pid}).threads) if (th.tid !== ${pid}) parasite.threadMisc(th.tracee);
    parasite.ping();
    console.log('infected');
    if (${JSON.stringify(stall)} === 'memory') {
      // A pipe nobody reads: our splice blocks once it is full, and the parasite waits for room.
      const [, w] = pipe2();
      console.log('memory');
      parasite.memory([{ addr: ${mem}n, len: ${BigInt(16 << 20)}n }], { outFd: w, pipeSize: 65536 });
    }
    setInterval(() => {}, 1000);
  `;
}

async function killDriverAndVerify(stall: 'idle' | 'memory'): Promise<void> {
  const marker = join(workDir(), `death-marker-${stall}`);
  const target = startProgram('parasite_target', { args: [marker, '--threads', '3', '--mem', '16', '--mode', stall === 'idle' ? 'spin' : 'block'] });
  const pid = target.pid;
  const mem = BigInt(target.waitOutput(/^READY .*mem=(0x[0-9a-f]+)/m)[1]!);
  const ownMask = BigInt(`0x${status(pid, 'SigBlk')}`);
  const fdsBefore = readdirSync(`/proc/${pid}/fd`).sort();
  const driver = spawn(process.execPath, ['--input-type=module', '-e', driverScript(pid, stall, mem)], { stdio: ['ignore', 'pipe', 'inherit'] });
  drivers.add(driver);
  const exited = new Promise<void>((resolve) => driver.on('exit', () => resolve()));
  const lines = createInterface({ input: driver.stdout! });
  const want = stall === 'idle' ? 'infected' : 'memory';
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => l === want && resolve());
    driver.on('exit', (code) => reject(new Error(`The driver exited (${code}) before '${want}'`)));
  });
  if (stall === 'memory') {
    // The parasite fills the 64 KiB pipe, our splice fills the other one; both wait.
    waitFor(() => /^State:\s*S/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')) && status(pid, 'TracerPid') !== '0', 'the parasite to block');
  }
  // Every signal blocked but SIGKILL and SIGSTOP (the kernel keeps those out of any mask).
  expect(status(pid, 'SigBlk')).toBe('fffffffffffbfeff');
  driver.kill('SIGKILL');
  await exited;
  // No tracer any more; the parasite went home through its sigframe: own mask, no fd of its own.
  waitFor(() => status(pid, 'TracerPid') === '0', `pid ${pid} to be untraced`);
  waitFor(() => BigInt(`0x${status(pid, 'SigBlk')}`) === ownMask, `pid ${pid} to get its own mask back`);
  waitFor(() => readdirSync(`/proc/${pid}/fd`).sort().join() === fdsBefore.join(), `pid ${pid} to have only its own fds`);
  for (const tid of readdirSync(`/proc/${pid}/task`)) expect(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')).toMatch(/TracerPid:\s*0\n/);
  process.kill(pid, 'SIGTERM');
  target.waitOutput(/^(PASS|FAIL)$/m, 10_000);
  expect(target.out()).toMatch(/^PASS$/m);
  expect(existsSync(marker)).toBe(true);
}

describe.runIf(hostArch() === 'x86_64' && existsSync(join(DIST, 'infect', 'index.js')))('the driver killed with SIGKILL', () => {
  it('while the parasite waits for a command: the task goes home by itself', async () => {
    await killDriverAndVerify('idle');
  });

  it('in the middle of MEMORY, the parasite waiting for room in the pipe', async () => {
    await killDriverAndVerify('memory');
  });
});

/**
 * Restore figures, counted as well as timed (ptrace stops, phases, bytes):
 *   1. `restoreTree` of our dumps of 64 MiB, 256 MiB and 1 GiB dump_target tasks: total time,
 *      MiB/s of pages, the memory step alone, ptrace stops (the pages image is in the page cache,
 *      as it is right after a dump);
 *   2. `criu-ts restore -d` of a small task, from the command's start to its exit (the task runs
 *      its own code from the detach just before the exit): the time a user waits, Node's start-up
 *      included, and the same for CRIU 4.2's sleep set;
 *   3. from `criu-ts restore -d` starting (and from `restoreTree` being called, in this process)
 *      to the first instruction of a small restored task (bench/programs/first_tick.c, which
 *      notes the time it runs again on the same monotonic clock).
 *
 *   npm run build && node dist/bench/restore.js [sizes in MiB...]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dumpTree } from '../src/dump/dump.js';
import { restoreTree } from '../src/restore/restore.js';
import { kill, SIG, wait4, WAIT } from '../src/sys/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const cli = join(repo, 'dist', 'criu-ts.mjs');
const work = mkdtempSync(join(tmpdir(), 'criu-ts-bench-restore-'));
const binary = join(work, 'dump_target');
execFileSync('gcc', ['-O2', '-pthread', '-o', binary, join(repo, 'test/programs/dump_target.c')]);

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function start(mib: number): number {
  const out = join(work, `out-${mib}-${Date.now()}`);
  const ready = `${out}.ready`;
  const res = spawnSync('sh', ['-c', `READY_FILE=${ready} setsid ${binary} ${mib} </dev/null >${out} 2>&1 & echo $!`], { encoding: 'utf8' });
  for (let i = 0; i < 3000 && !existsSync(ready); i++) sleepMs(10);
  return Number(res.stdout.trim());
}

function waitGone(pid: number): void {
  for (let i = 0; i < 1500 && existsSync(`/proc/${pid}`); i++) {
    try {
      wait4(pid, { flags: WAIT.ALL | WAIT.NOHANG });
    } catch {
      // not ours
    }
    sleepMs(10);
  }
}

function stop(pid: number): void {
  try {
    kill(pid, SIG.KILL);
  } catch {
    // gone
  }
  waitGone(pid);
}

const mibs = (bytes: number | bigint, ms: number) => (Number(bytes) / (1 << 20) / (ms / 1000)).toFixed(0);

// 1. Whole restores, in this process (it becomes the restored root's parent).
for (const size of (process.argv.slice(2).length ? process.argv.slice(2) : ['64', '256', '1024']).map(Number)) {
  const pid = start(size);
  const dir = join(work, `dump-${size}`);
  await dumpTree(pid, { imagesDir: dir, after: 'kill' });
  waitGone(pid);
  const pages = statSync(join(dir, 'pages-1.img')).size;
  const lines: string[] = [];
  const r = await restoreTree({ imagesDir: dir, log: (m) => lines.push(m) });
  const memory = /bytes of pages \(([\d.]+) ms\)/.exec(lines.join('\n'))?.[1] ?? '?';
  console.log(`restore ${size} MiB dump_target: ${r.stats.totalMs.toFixed(0)} ms, ${mibs(pages, r.stats.totalMs)} MiB/s of pages (${(pages / (1 << 20)).toFixed(0)} MiB); ` +
    `plan ${r.stats.planMs.toFixed(1)} ms, tree ${r.stats.treeMs.toFixed(1)} ms, task ${r.stats.tasksMs.toFixed(1)} ms (memory ${memory} ms: ${mibs(pages, Number(memory))} MiB/s); ${r.stats.ptraceStops} ptrace stops`);
  stop(r.rootPid);
  rmSync(dir, { recursive: true, force: true });
}

// 2. From `criu-ts restore -d` to the task running, as a user sees it.
function timeCli(dir: string, pid: number, label: string): void {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = spawnSync(process.execPath, [cli, 'restore', '-D', dir, '-d', '-o', 'restore.log'], { encoding: 'utf8' });
    times.push(performance.now() - t0);
    if (res.status !== 0) throw new Error(`criu-ts restore failed: ${res.stderr}`);
    stop(pid);
  }
  const inside = [...readFileSync(join(dir, 'restore.log'), 'utf8').matchAll(/restored \d+ task\(s\) in ([\d.]+) ms/g)].map((m) => Number(m[1]));
  times.sort((a, b) => a - b);
  inside.sort((a, b) => a - b);
  console.log(`criu-ts restore -d of ${label}: median ${times[2]!.toFixed(0)} ms from the command's start to its exit (the task runs from the detach just before); ` +
    `median ${inside[2]!.toFixed(1)} ms of restoring inside it`);
}
{
  const pid = start(1);
  const dir = join(work, 'small');
  await dumpTree(pid, { imagesDir: dir, after: 'kill' });
  waitGone(pid);
  timeCli(dir, pid, 'a 1 MiB, 3-thread dump_target');
}
{
  const dir = join(work, 'sleep');
  cpSync(join(repo, 'test', 'fixtures', 'conformance', 'sleep', 'images'), dir, { recursive: true });
  if (existsSync('/proc/15349')) console.log('CRIU 4.2 sleep set: skipped, PID 15349 is in use');
  else timeCli(dir, 15349, "CRIU 4.2's sleep set");
}
// 3. From the restore's start to the restored task's first instruction.
{
  const ticker = join(work, 'first_tick');
  execFileSync('gcc', ['-O2', '-o', ticker, join(repo, 'bench/programs/first_tick.c')]);
  const note = join(work, 'first_tick.out');
  const readyLine = `${'ready'.padEnd(31)}\n`;
  const pid = Number(spawnSync('sh', ['-c', `setsid ${ticker} ${note} </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).stdout.trim());
  for (let i = 0; i < 300 && !(existsSync(note) && readFileSync(note, 'utf8').startsWith('ready')); i++) sleepMs(10);
  const dir = join(work, 'first-tick');
  await dumpTree(pid, { imagesDir: dir, after: 'kill' });
  waitGone(pid);
  /** Restores with `run` (which returns when the task runs) and gives ms from `t0` to the task's first tick. */
  const firstTick = async (run: () => Promise<void> | void): Promise<number> => {
    writeFileSync(note, readyLine); // as it was at the dump (restore checks its size)
    const t0 = process.hrtime.bigint();
    await run();
    let line = '';
    for (let i = 0; i < 500 && !/^\d+/.test(line); i++, sleepMs(2)) line = readFileSync(note, 'utf8');
    stop(pid);
    return Number(BigInt(line.trim()) - t0) / 1e6;
  };
  const cliTimes: number[] = [];
  const inProcess: number[] = [];
  for (let i = 0; i < 5; i++) {
    cliTimes.push(await firstTick(() => {
      const res = spawnSync(process.execPath, [cli, 'restore', '-D', dir, '-d'], { encoding: 'utf8' });
      if (res.status !== 0) throw new Error(`criu-ts restore failed: ${res.stderr}`);
    }));
    inProcess.push(await firstTick(async () => {
      await restoreTree({ imagesDir: dir });
    }));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
  console.log(`first instruction of a restored small task (first_tick.c): median ${median(cliTimes)} ms after \`criu-ts restore -d\` starts (Node's start included), ` +
    `median ${median(inProcess)} ms after restoreTree() is called`);
}

rmSync(work, { recursive: true, force: true });

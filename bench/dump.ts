/**
 * Infection and dump figures, counted as well as timed (ptrace stops, syscalls, bytes):
 *   1. seize + infect + cure of a small task;
 *   2. the parasite's MEMORY command on a large target, against a plain process_vm_readv copy
 *      into page-aligned memory, both into /dev/null-like sinks and into a file;
 *   3. `dumpTree` of 64 MiB, 256 MiB and 1 GiB targets (MiB/s, frozen time).
 *
 *   npm run build && node dist/bench/dump.js [sizes in MiB...]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dumpTree } from '../src/dump/dump.js';
import { Parasite } from '../src/infect/index.js';
import { freezeTree, ptraceStats, resetPtraceStats } from '../src/ptrace/index.js';
import { O, allocPages, close, kill, open, processVmReadv, resetSyscallCounts, SIG, syscallCounts } from '../src/sys/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'criu-ts-bench-'));
const binary = join(work, 'dump_target');
execFileSync('gcc', ['-O2', '-pthread', '-o', binary, join(repo, 'test/programs/dump_target.c')]);

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function start(mib: number): { pid: number; addr: bigint; bytes: number } {
  const out = join(work, `out-${mib}-${Date.now()}`);
  const ready = `${out}.ready`;
  const res = spawnSync('sh', ['-c', `READY_FILE=${ready} setsid ${binary} ${mib} </dev/null >${out} 2>&1 & echo $!`], { encoding: 'utf8' });
  const pid = Number(res.stdout.trim());
  for (let i = 0; i < 3000 && !existsSync(ready); i++) sleepMs(10);
  const [, addr, bytes] = /pattern ([0-9a-f]+) (\d+)/.exec(readFileSync(out, 'utf8'))!;
  return { pid, addr: BigInt('0x' + addr), bytes: Number(bytes) };
}

function stop(pid: number): void {
  try {
    kill(pid, SIG.KILL);
  } catch {
    // gone
  }
  for (let i = 0; i < 300 && existsSync(`/proc/${pid}/exe`); i++) sleepMs(10);
}

const mibs = (bytes: number, ms: number) => (bytes / (1 << 20) / (ms / 1000)).toFixed(0);
const totalSyscalls = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);

// 1. Infection of a small task.
{
  const t = start(1);
  const rounds = 20;
  const times: number[] = [];
  let last = { stops: 0, syscalls: 0, ptrace: 0, remote: 0 };
  for (let i = 0; i < rounds; i++) {
    resetPtraceStats();
    resetSyscallCounts();
    const t0 = performance.now();
    const tree = freezeTree(t.pid);
    const p = Parasite.infect(tree.tracee(t.pid)!);
    p.cure();
    tree.thaw();
    times.push(performance.now() - t0);
    const counts = syscallCounts();
    last = { stops: ptraceStats().stops, syscalls: totalSyscalls(counts), ptrace: counts['ptrace'] ?? 0, remote: p.stats.remoteSyscalls };
  }
  times.sort((a, b) => a - b);
  console.log(`seize+infect+cure+thaw, 1-thread... small task (3 threads): median ${times[rounds >> 1]!.toFixed(2)} ms, min ${times[0]!.toFixed(2)} ms; ` +
    `${last.stops} ptrace stops, ${last.remote} remote syscalls, ${last.ptrace} ptrace requests, ${last.syscalls} syscalls in all`);
  stop(t.pid);
}

// 2. MEMORY vs process_vm_readv on a large target.
{
  const size = Number(process.env['BENCH_MEMORY_MIB'] ?? 1024);
  const t = start(size);
  const ranges = [{ addr: t.addr, len: BigInt(t.bytes) }];
  const tree = freezeTree(t.pid);
  try {
    const p = Parasite.infect(tree.tracee(t.pid)!);
    try {
      for (const [label, path] of [['/dev/null', '/dev/null'], ['a file', join(work, 'pages.img')]] as const) {
        const fd = open(path, { flags: O.WRONLY | O.CREAT | O.TRUNC, mode: 0o600 });
        const t0 = performance.now();
        const r = p.memory(ranges, { outFd: fd });
        const ms = performance.now() - t0;
        close(fd);
        console.log(`parasite MEMORY ${size} MiB -> ${label}: ${mibs(r.bytes, ms)} MiB/s (${ms.toFixed(0)} ms, ${r.commands} commands)`);
      }
    } finally {
      p.cure();
    }
    const chunk = 64 << 20;
    const buf = allocPages(chunk, { populate: true });
    try {
      const t0 = performance.now();
      for (let off = 0; off < t.bytes; off += chunk) {
        processVmReadv(t.pid, { local: [buf.range()], remote: [{ addr: t.addr + BigInt(off), len: chunk }] });
      }
      const ms = performance.now() - t0;
      console.log(`process_vm_readv ${size} MiB into page-aligned memory: ${mibs(t.bytes, ms)} MiB/s (${ms.toFixed(0)} ms)`);
    } finally {
      buf.unmap();
    }
  } finally {
    tree.thaw();
    stop(t.pid);
  }
}

// 3. Whole dumps.
for (const size of (process.argv.slice(2).length ? process.argv.slice(2) : ['64', '256', '1024']).map(Number)) {
  const t = start(size);
  const dir = join(work, `dump-${size}`);
  resetPtraceStats();
  const t0 = performance.now();
  const r = await dumpTree(t.pid, { imagesDir: dir, after: 'kill' });
  const ms = performance.now() - t0;
  const pages = statSync(join(dir, 'pages-1.img')).size;
  console.log(`dump ${size} MiB target: ${ms.toFixed(0)} ms, ${mibs(pages, ms)} MiB/s of pages (${(pages / (1 << 20)).toFixed(0)} MiB), ` +
    `frozen ${r.stats.frozenMs.toFixed(0)} ms, memory ${r.stats.memdumpMs.toFixed(0)} ms, ${ptraceStats().stops} ptrace stops`);
  stop(t.pid);
  rmSync(dir, { recursive: true, force: true });
}
rmSync(work, { recursive: true, force: true });

/**
 * TCP figures: a server (test/programs/tcp_echo_server.c) with N established connections (100 by
 * default), its clients in another process sending all the time.
 *   1. `dumpTree --leave-running --tcp-established`: frozen time, the nftables transactions and
 *      changes the network lock took, ptrace stops;
 *   2. dump (killed) then `restoreTree --tcp-established`: restore time with N connections rebuilt
 *      in repair mode, and whether every client still gets its echoes afterwards.
 *
 *   npm run build && node dist/bench/tcp.js [connections]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dumpTree } from '../src/dump/dump.js';
import { ptraceStats, resetPtraceStats } from '../src/ptrace/index.js';
import { restoreTree } from '../src/restore/restore.js';
import { SIG, kill } from '../src/sys/index.js';

const connections = Number(process.argv[2] ?? 100);
const repo = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'criu-ts-bench-tcp-'));
const server = join(work, 'tcp_echo_server');
execFileSync('gcc', ['-O2', '-o', server, join(repo, 'test/programs/tcp_echo_server.c')]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The clients: one process, N connections, each sending 1 KiB every 10 ms and counting echoes. */
const CLIENTS = `
const net = require('node:net');
const [port, n, report] = process.argv.slice(1).map(String);
const counts = new Array(Number(n)).fill(0);
for (let i = 0; i < Number(n); i++) {
  const s = net.connect({ host: '127.0.0.1', port: Number(port) });
  s.on('data', (d) => { counts[i] += d.length; });
  s.on('error', (e) => { console.error('client', i, e.message); process.exit(1); });
  setInterval(() => s.write(Buffer.alloc(1024, 7)), 10);
}
setInterval(() => require('node:fs').writeFileSync(report, JSON.stringify(counts)), 50);
`;

async function startServer(port: number): Promise<{ pid: number; clients: ReturnType<typeof spawn>; counts: () => number[] }> {
  const out = join(work, `server-${port}.out`);
  const res = spawnSync('sh', ['-c', `setsid ${server} 4 ${port} ${connections} </dev/null >${out} 2>&1 & echo $!`], { encoding: 'utf8' });
  const pid = Number(res.stdout.trim());
  await sleep(200);
  const report = join(work, `counts-${port}.json`);
  const clients = spawn(process.execPath, ['-e', CLIENTS, String(port), String(connections), report], { stdio: 'inherit' });
  for (let i = 0; i < 500 && !/accepted/.test(existsSync(out) ? readFileSync(out, 'utf8') : ''); i++) await sleep(10);
  await sleep(300);
  const counts = () => (existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as number[]) : []);
  return { pid, clients, counts };
}

function stopServer(pid: number): void {
  try {
    kill(pid, SIG.KILL);
  } catch {
    // gone
  }
}

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`TCP: ${connections} established connections to one server (load average ${load})`);

// 1. Leave-running dumps: what the freeze costs with N connections.
{
  const port = 47400 + Math.floor(Math.random() * 500);
  const s = await startServer(port);
  for (let round = 0; round < 3; round++) {
    const dir = join(work, `running-${round}`);
    resetPtraceStats();
    const t0 = performance.now();
    const r = await dumpTree(s.pid, { imagesDir: dir, after: 'leave-running', tcpEstablished: true });
    const total = performance.now() - t0;
    console.log(
      `  dump --leave-running: ${total.toFixed(0)} ms total, frozen ${r.stats.frozenMs.toFixed(0)} ms, ` +
        `${r.stats.tcpConnections} connections in repair mode, network lock: ${r.stats.nftTransactions} nft transactions, ` +
        `${r.stats.nftChanges} changes (table, chains, rules, ${2 * r.stats.tcpConnections} set elements, drop), ${ptraceStats().stops} ptrace stops`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  const before = s.counts();
  await sleep(500);
  const after = s.counts();
  const moving = after.filter((c, i) => c > (before[i] ?? 0)).length;
  console.log(`  after the dumps: ${moving}/${connections} clients still getting echoes`);
  s.clients.kill();
  stopServer(s.pid);
}

// 2. Dump (killed) and restore.
{
  const port = 47900 + Math.floor(Math.random() * 90);
  const s = await startServer(port);
  const dir = join(work, 'killed');
  const d = await dumpTree(s.pid, { imagesDir: dir, after: 'kill', tcpEstablished: true });
  for (let i = 0; i < 300 && existsSync(`/proc/${s.pid}`); i++) await sleep(10);
  const t0 = performance.now();
  const r = await restoreTree({ imagesDir: dir, tcpEstablished: true });
  const total = performance.now() - t0;
  console.log(
    `  dump (killed): frozen ${d.stats.frozenMs.toFixed(0)} ms; restore of ${connections} connections: ${total.toFixed(0)} ms ` +
      `(plan and files ${r.stats.planMs.toFixed(0)} ms), ${r.stats.ptraceStops} ptrace stops`,
  );
  const before = s.counts();
  await sleep(3000);
  const after = s.counts();
  const moving = after.filter((c, i) => c > (before[i] ?? 0)).length;
  console.log(`  after the restore: ${moving}/${connections} clients getting echoes again`);
  s.clients.kill();
  stopServer(r.rootPid);
}
rmSync(work, { recursive: true, force: true });

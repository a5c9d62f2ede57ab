#!/usr/bin/env node
// The demo: checkpoint a running process tree, kill it, restore it, and watch it go on from where
// it stopped. The tree is a bash loop with a `sleep` child that counts into a file:
//
//   bash -c 'i=0; while :; do echo $i > counter; i=$((i+1)); sleep 0.2; done'
//
// Run as root after `npm run build` (npm run demo does both).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'criu-ts.mjs');
const work = mkdtempSync(join(tmpdir(), 'criu-ts-demo-'));
const counter = join(work, 'counter');
const images = join(work, 'images');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const count = () => (existsSync(counter) ? readFileSync(counter, 'utf8').trim() : '?');
const say = (line) => console.log(`demo: ${line}`);

function criuTs(...args) {
  const started = performance.now();
  const res = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (res.status !== 0) {
    say(`criu-ts ${args[0]} failed (exit ${res.status})`);
    cleanup(1);
  }
  return performance.now() - started;
}

let pid = 0;
function cleanup(code) {
  if (pid) {
    // The loop and its sleep: the whole process group (the loop leads it, restored as it was).
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
  process.exit(code);
}

const loop = `i=0; while :; do echo $i > ${counter}; i=$((i+1)); sleep 0.2; done`;
pid = Number(spawnSync('sh', ['-c', `setsid bash -c '${loop}' </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).stdout.trim());
sleep(1000);
say(`started a bash loop (pid ${pid}); its counter is at ${count()}`);

const dumpMs = criuTs('dump', '-t', String(pid), '-D', images, '-o', 'dump.log');
for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) sleep(50); // PID 1 reaps it
const frozenAt = count();
say(`dumped it to ${images} in ${dumpMs.toFixed(0)} ms and killed it; the counter stopped at ${frozenAt}`);
sleep(1000);
say(`one second later the counter is still ${count()} (pid ${pid} ${existsSync(`/proc/${pid}`) ? 'exists' : 'is gone'})`);

const restoreMs = criuTs('restore', '-D', images, '-d', '-o', 'restore.log');
say(`restored it in ${restoreMs.toFixed(0)} ms, with its original pid ${pid}`);
sleep(1000);
const after = count();
say(`one second later the counter is at ${after}: it went on from ${frozenAt}`);
const ok = existsSync(`/proc/${pid}`) && Number(after) > Number(frozenAt);
say(ok ? 'checkpoint/restore worked' : 'something went wrong');
cleanup(ok ? 0 : 1);

// Helpers for tests whose own sockets must keep talking while criu-ts works: nothing here blocks
// the event loop (the synchronous helpers of programs.ts and restore.ts do).
import { spawn } from 'node:child_process';
import { CRIU_TS } from './paths.js';
import type { Target } from './programs.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs criu-ts as a child, without blocking; resolves with its exit status and output. */
export function criuTsAsync(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CRIU_TS, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Polls `cond` every 20 ms until it holds; rejects naming `what` after `ms`. */
export async function waitUntil(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Like Target.waitOutput, without blocking the event loop. */
export async function waitOutput(target: Target, re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
  let m: RegExpMatchArray | null = null;
  await waitUntil(() => (m = re.exec(target.out())) !== null, `${target.name} (pid ${target.pid}) to print ${re}; output so far: ${JSON.stringify(target.out())}`, ms);
  return m!;
}

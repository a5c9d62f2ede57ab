// Detached target processes for the sys tests. Node reaps its own children (and eats their ptrace
// stops), so targets are started by a shell that backgrounds them under setsid and exits at once:
// the target is then PID 1's child, not ours. Every target is killed by killAllTargets().
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const started = new Set<number>();

/**
 * Starts `sleep 1000` detached, with stdio on /dev/null and any `extraFds` (shell redirections such
 * as `3</etc/hostname`) applied; returns its pid once it is running `sleep`.
 */
export function startSleeper(extraFds = ''): number {
  const script = `setsid sleep 1000 </dev/null >/dev/null 2>&1 ${extraFds} & echo $!`;
  const out = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
  if (out.status !== 0) throw new Error(`Could not start a target: ${out.stderr}`);
  const pid = Number(out.stdout.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`Bad pid from launcher: ${JSON.stringify(out.stdout)}`);
  started.add(pid);
  waitUntil(() => readComm(pid) === 'sleep', `pid ${pid} to exec sleep`);
  return pid;
}

/** The task's state letter from /proc/PID/stat, or null once it is gone. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** A /proc/PID/status field, e.g. `TracerPid`. */
export function procStatusField(pid: number, field: string): string | undefined {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text)?.[1];
}

function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Spins (sleeping) until `cond` holds, for at most `ms`. */
export function waitUntil(cond: () => boolean, what: string, ms = 5000): void {
  const deadline = Date.now() + ms;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    Atomics.wait(cell, 0, 0, 10);
  }
}

/** True once the task is dead: gone, or a zombie waiting for PID 1 to reap it. */
export function isDead(pid: number): boolean {
  const state = procState(pid);
  return state === null || state === 'Z' || state === 'X';
}

/** SIGKILLs a target (it may be traced or stopped) and waits until it is dead. */
export function killTarget(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  waitUntil(() => isDead(pid), `pid ${pid} to die`);
  started.delete(pid);
}

/** Kills every target still alive; for afterAll/afterEach. */
export function killAllTargets(): void {
  for (const pid of [...started]) killTarget(pid);
}

/** A pid that no process has now (for ESRCH checks). */
export function freePid(): number {
  const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = max - 1; pid > 1; pid--) if (!existsSync(`/proc/${pid}`)) return pid;
  throw new Error('No free pid');
}

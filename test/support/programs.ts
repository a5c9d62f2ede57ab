// Builds the C programs of test/programs/ with gcc (once per test file, into a temp dir) and starts
// them detached: a shell backgrounds each one under setsid and exits at once, so the target is PID
// 1's child, not ours (Node would eat its ptrace stops). A program says it is ready by writing
// "ready <pid>" to $READY_FILE; its stdout and stderr go to a file the test can read. Every program
// started is killed by killAllPrograms(), with its whole process group (setsid made it the leader).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROGRAMS_DIR = fileURLToPath(new URL('../programs/', import.meta.url));

let buildDir = '';
const built = new Map<string, string>();
const running = new Set<Target>();
let serial = 0;

/** The temp dir of this test file's builds and outputs (made on first use). */
export function workDir(): string {
  if (buildDir === '') buildDir = mkdtempSync(join(tmpdir(), 'criu-ts-programs-'));
  return buildDir;
}

/** Compiles test/programs/<name>.c (cached); returns the binary's path. */
export function buildProgram(name: string): string {
  const cached = built.get(name);
  if (cached !== undefined) return cached;
  const out = join(workDir(), name);
  execFileSync('gcc', ['-O1', '-g', '-pthread', '-Wall', '-Werror', '-o', out, join(PROGRAMS_DIR, `${name}.c`)], { stdio: 'pipe' });
  built.set(name, out);
  return out;
}

/** A started program. */
export interface Target {
  readonly name: string;
  readonly pid: number;
  /** Where its stdout and stderr go. */
  readonly outPath: string;
  /** Its output so far. */
  out(): string;
  /** Waits until its output matches `re`; returns the match. */
  waitOutput(re: RegExp, ms?: number): RegExpMatchArray;
}

/** Options of startProgram. */
export interface StartOptions {
  args?: string[];
  /** Wait for $READY_FILE (true when absent); false for programs that never signal. */
  waitReady?: boolean;
  readyTimeoutMs?: number;
  /** A command the program runs under (e.g. `['ip', 'netns', 'exec', 'NAME']`). */
  wrapper?: string[];
}

/** Builds and starts test/programs/<name>.c detached; returns once it signalled ready. */
export function startProgram(name: string, opts?: StartOptions): Target {
  const bin = buildProgram(name);
  const id = `${name}-${++serial}`;
  const outPath = join(workDir(), `${id}.out`);
  const readyPath = join(workDir(), `${id}.ready`);
  const args = (opts?.args ?? []).map(shellQuote).join(' ');
  const wrapper = (opts?.wrapper ?? []).map(shellQuote).join(' ');
  const script = `READY_FILE=${shellQuote(readyPath)} ${wrapper} setsid ${shellQuote(bin)} ${args} </dev/null >${shellQuote(outPath)} 2>&1 & echo $!`;
  const res = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
  if (res.status !== 0) throw new Error(`Could not start ${name}: ${res.stderr}`);
  const pid = Number(res.stdout.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`Bad pid from the launcher: ${JSON.stringify(res.stdout)}`);
  const out = (): string => (existsSync(outPath) ? readFileSync(outPath, 'utf8') : '');
  const target: Target = {
    name,
    pid,
    outPath,
    out,
    waitOutput(re, ms = 5000) {
      let m: RegExpMatchArray | null = null;
      waitFor(() => (m = re.exec(out())) !== null, `${name} (pid ${pid}) to print ${re}; output so far: ${JSON.stringify(out())}`, ms);
      return m!;
    },
  };
  running.add(target);
  if (opts?.waitReady ?? true) {
    waitFor(() => existsSync(readyPath), `${name} (pid ${pid}) to be ready; output: ${JSON.stringify(out())}`, opts?.readyTimeoutMs ?? 10_000);
  }
  return target;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps the thread for `ms`. */
export function pause(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** Spins (sleeping 2 ms between looks) until `cond` holds, for at most `ms`. */
export function waitFor(cond: () => boolean, what: string, ms = 5000): void {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    pause(2);
  }
}

/** The state letter of /proc/PID/stat, or null once the task is gone. */
export function taskState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** True once the task is gone or a zombie. */
export function isDead(pid: number): boolean {
  const s = taskState(pid);
  return s === null || s === 'Z' || s === 'X';
}

/** Processes whose process group is `pgid`. */
export function processGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** SIGKILLs a program's whole process group and waits until every member is dead. */
export function killProgram(t: Target): void {
  for (const target of [-t.pid, t.pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  waitFor(() => processGroup(t.pid).every(isDead), `the process group of ${t.name} (pid ${t.pid}) to die`, 10_000);
  running.delete(t);
}

/** Kills every program still running; for afterEach. */
export function killAllPrograms(): void {
  for (const t of [...running]) killProgram(t);
}

/** Kills everything and removes the temp dir; for afterAll. */
export function cleanupPrograms(): void {
  killAllPrograms();
  if (buildDir !== '') rmSync(buildDir, { recursive: true, force: true });
  buildDir = '';
  built.clear();
}

/** Sends a signal to a program's main task (e.g. SIGTERM to make it verify and print PASS). */
export function signalProgram(t: Target, signal: NodeJS.Signals): void {
  process.kill(t.pid, signal);
}

/** Creates a FIFO in the work dir; returns its path. */
export function makeFifo(name: string): string {
  const path = join(workDir(), `${name}-${++serial}.fifo`);
  execFileSync('mkfifo', [path]);
  return path;
}

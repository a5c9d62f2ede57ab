// Drives test/support/parasite_harness.c (a C driver of the x86_64 parasite blob) from a test: builds
// it and test/programs/parasite_target.c with gcc, writes the committed blob and a protocol header
// generated from parasite/protocol.ts, and speaks its line protocol. The harness asks for each
// thread's sigframe (`frame-req`); the answer is built here with arch/x86_64/sigframe.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parasiteX86_64 } from '../../arch/x86_64/parasite.js';
import { X86_64_REG_NAMES } from '../../arch/x86_64/ops.js';
import { buildSigframe } from '../../arch/x86_64/sigframe.js';
import { PROTOCOL_CONSTANTS } from '../../parasite/protocol.js';
import { readyFacts } from './parasite_target.js';

const HARNESS_SOURCE = fileURLToPath(new URL('./parasite_harness.c', import.meta.url));
const TARGET_SOURCE = fileURLToPath(new URL('../programs/parasite_target.c', import.meta.url));

/** Paths of one build. */
export interface HarnessBuild {
  dir: string;
  harness: string;
  target: string;
  blob: string;
}

/** Compiles the harness and the target, writes the blob and the protocol header. */
export function buildHarness(): HarnessBuild {
  const dir = mkdtempSync(join(tmpdir(), 'criu-ts-parasite-'));
  const header = join(dir, 'protocol.h');
  writeFileSync(header, Object.entries(PROTOCOL_CONSTANTS).map(([k, v]) => `#define ${k} ${v}\n`).join(''));
  const blob = join(dir, 'parasite.bin');
  writeFileSync(blob, parasiteX86_64().bytes);
  const harness = join(dir, 'parasite_harness');
  const target = join(dir, 'parasite_target');
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-include', header, '-o', harness, HARNESS_SOURCE], { stdio: 'pipe' });
  execFileSync('gcc', ['-O1', '-g', '-pthread', '-Wall', '-Werror', '-o', target, TARGET_SOURCE], { stdio: 'pipe' });
  return { dir, harness, target, blob };
}

/** `k=v` tokens of a result line. */
export const fields = readyFacts;

/** A running harness and its target. */
export class Harness {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: ((line: string | null) => void)[] = [];
  #closed = false;
  /** Every frame the harness asked for, by tid. */
  readonly frames = new Map<number, Uint8Array>();
  /** The target's pid and its READY facts. */
  pid = 0;
  facts: Record<string, string> = {};
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => this.#onLine(line));
    rl.on('close', () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Starts the harness on a new target; resolves once the target printed READY. */
  static async start(build: HarnessBuild, targetArgs: string[]): Promise<Harness> {
    const b = parasiteX86_64();
    const args = [build.blob, String(b.entries.daemon), String(b.entries.thread), String(b.entries.sigreturn), '--', build.target, ...targetArgs];
    const h = new Harness(spawn(build.harness, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
    const first = await h.next();
    const m = /^target (\d+) (.*)$/.exec(first);
    if (m === null) throw new Error(`The harness did not start the target: ${first}`);
    h.pid = Number(m[1]);
    h.facts = fields(m[2]!);
    return h;
  }

  #onLine(line: string): void {
    if (line.startsWith('frame-req ')) {
      this.#answerFrame(line);
      return;
    }
    const w = this.#waiters.shift();
    if (w !== undefined) w(line);
    else this.#lines.push(line);
  }

  #answerFrame(line: string): void {
    const [, tid, addr, regsHex, xHex, maskHex] = line.split(' ') as [string, string, string, string, string, string];
    const raw = Buffer.from(regsHex, 'hex');
    const regs: Record<string, bigint> = {};
    X86_64_REG_NAMES.forEach((name, i) => (regs[name] = raw.readBigUInt64LE(i * 8)));
    const frame = buildSigframe({ regs, sigmask: BigInt(`0x${maskHex}`), xstate: Buffer.from(xHex, 'hex'), address: BigInt(addr) });
    this.frames.set(Number(tid), frame.bytes);
    this.#child.stdin!.write(`frame ${Buffer.from(frame.bytes).toString('hex')}\n`);
  }

  /** The next result line (rejects on `error ...` or when the harness is gone). */
  next(): Promise<string> {
    const queued = this.#lines.shift();
    const got = queued !== undefined ? Promise.resolve<string | null>(queued) : this.#closed ? Promise.resolve(null) : new Promise<string | null>((r) => this.#waiters.push(r));
    return got.then((line) => {
      if (line === null) throw new Error('The harness exited');
      if (line.startsWith('error ')) throw new Error(`Harness: ${line}`);
      return line;
    });
  }

  /** Sends one command line; resolves with its result line. */
  cmd(line: string): Promise<string> {
    this.#child.stdin!.write(`${line}\n`);
    return this.next();
  }

  /** SIGKILLs the harness (the driver) and waits for it to be gone. */
  async killDriver(): Promise<void> {
    this.#child.kill('SIGKILL');
    await this.exited;
  }

  /** Ends the harness (stdin closed); kills it if it does not go. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.stdin!.end();
    const t = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(t);
  }
}

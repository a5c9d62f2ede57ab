/**
 * `RemoteSyscalls`: runs system calls inside a stopped tracee, like rr's AutoRemoteSyscalls. Opening
 * the scope saves the registers, the signal mask and the code word it patches with the arch's
 * `syscall; trap` (`0f 05 cc` on x86_64); each call sets the registers (number, arguments, ip at the
 * patch, any in-kernel restart cancelled), resumes with `PTRACE_CONT`, waits for the trap's SIGTRAP
 * and reads the result; closing puts the code word, the registers and the mask back. Close runs on
 * every exit path ({@link withRemote} is the scoped form), and does nothing more once the task died.
 *
 * A task stopped inside a syscall (blocked in read(), in nanosleep) resumes it correctly afterwards:
 * its saved registers keep `orig_rax` and the `-ERESTART*` code, and the kernel restarts the syscall
 * when the task leaves its final ptrace stop. While the scope is open every signal is blocked, so
 * that only our trap stops the task; a stop signal that still arrives is delivered and its group-stop
 * outlives us. Caveat: a remote syscall that is itself interrupted into a restart block (a remote
 * nanosleep cut short) replaces the task's own restart block.
 */

import { type ArchOps, type Regs } from '../../arch/index.js';
import { isPtraceError, PtraceError, type Tracee } from '../ptrace/index.js';
import { describeWaitStatus, errnoName, MAP, PROT, PTRACE_EVENT, SIG, syscallName, type SyscallName, type WaitStatus } from '../sys/index.js';
import { remoteAddress, type RemoteAddress } from './address.js';
import { RemoteError, RemoteSyscallError } from './errors.js';
import { findSyscallSite } from './site.js';

/** Options of a remote-syscall scope. */
export interface RemoteOptions {
  /** Where to patch the trap; the task's first private executable mapping when absent. */
  site?: bigint;
  /** Block every signal while the scope is open (true when absent). */
  blockSignals?: boolean;
  /** How long one remote syscall may take; 10 s when absent. */
  timeoutMs?: number;
}

/** One remote syscall's outcome: a value, or the task's `-errno`. */
export type RemoteResult =
  | { ok: true; value: bigint }
  | { ok: false; errno: number; code: string };

/** Figures of a scope, for bench/ and logs. */
export interface RemoteStats {
  syscalls: number;
  /** Stops waited for (one per syscall unless something else stopped the task). */
  stops: number;
}

/** What remote mmap takes. */
export interface RemoteMmapOptions {
  addr?: bigint;
  /** `PROT_*`; read and write when absent. */
  prot?: number;
  /** `MAP_*`; private and anonymous when absent. */
  flags?: number;
  fd?: number;
  offset?: bigint | number;
}

const STOP_SIGNALS = new Set<number>([SIG.STOP, SIG.TSTP, SIG.TTIN, SIG.TTOU]);
/**
 * Every signal but SIGTRAP: a trap that finds SIGTRAP blocked is forced through, and forcing it
 * resets the task's SIGTRAP handler to SIG_DFL (CRIU leaves it unblocked for the same reason).
 */
const BLOCK_MASK = ((1n << 64n) - 1n) & ~(1n << BigInt(SIG.TRAP - 1));

/** Tracees with a scope open: a second scope would save the first one's trap and registers. */
const openScopes = new WeakSet<Tracee>();

/** A scope of remote syscalls in one stopped tracee. */
export class RemoteSyscalls {
  readonly tracee: Tracee;
  readonly site: RemoteAddress;
  readonly stats: RemoteStats = { syscalls: 0, stops: 0 };
  /** Tasks the kernel attached to us while a remote clone/fork ran (they wait in their first stop). */
  readonly newTasks: number[] = [];
  readonly #arch: ArchOps;
  readonly #timeoutMs: number;
  /** The registers saved at open, as the kernel's bytes, and a scratch copy each call edits. */
  readonly #saved: Uint8Array;
  readonly #scratch: Uint8Array;
  #word: bigint | null = null;
  #mask: bigint | null = null;
  #nrRegset: Uint8Array | null = null;
  #open = true;
  #unhook: (() => void) | null = null;

  private constructor(tracee: Tracee, site: bigint, saved: Uint8Array, opts: RemoteOptions | undefined) {
    this.tracee = tracee;
    this.site = remoteAddress(site);
    this.#arch = tracee.arch;
    this.#timeoutMs = opts?.timeoutMs ?? 10_000;
    this.#saved = saved;
    this.#scratch = saved.slice();
  }

  /** The registers the task had when the scope opened (they are put back at close). */
  get savedRegs(): Regs {
    return this.#arch.decodeRegs(this.#saved);
  }

  /**
   * Opens a scope: `PTRACE_GETREGSET` (saved), `PTRACE_GETSIGMASK` + `PTRACE_SETSIGMASK` (all
   * blocked), `PTRACE_PEEKDATA` + `PTRACE_POKEDATA` (the trap at the site). Undone if any step fails.
   */
  static open(tracee: Tracee, opts?: RemoteOptions): RemoteSyscalls {
    const site = opts?.site ?? findSyscallSite(tracee.pid);
    const trap = tracee.arch.table.syscallTrap;
    if (trap.byteLength > 8) throw new RangeError(`A ${trap.byteLength}-byte trap does not fit one ptrace word`);
    if (openScopes.has(tracee)) throw new RemoteError('SCOPE_OPEN', `A remote-syscall scope is already open on ${tracee.name}`, { tid: tracee.tid });
    const rs = new RemoteSyscalls(tracee, site, tracee.getRegsBytes().slice(), opts);
    openScopes.add(tracee);
    // A scope left open is closed before the tracee is detached (thaw), never detached dirty.
    rs.#unhook = tracee.beforeDetach(() => rs.close());
    try {
      const nrRegset = tracee.arch.table.syscall.nrRegset;
      if (nrRegset !== null) rs.#nrRegset = tracee.getRegset(nrRegset, 4);
      if (opts?.blockSignals ?? true) {
        rs.#mask = tracee.getSigmask();
        tracee.setSigmask(BLOCK_MASK);
      }
      const word = tracee.peek(site);
      rs.#word = word;
      tracee.poke(site, patchWord(word, trap));
    } catch (err) {
      rs.#closeQuietly();
      throw err;
    }
    return rs;
  }

  /** True until {@link close}. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Runs `nr(args...)` in the task: `PTRACE_SETREGSET`, `PTRACE_CONT`, `wait4` until the trap's
   * SIGTRAP, `PTRACE_GETREGSET`. Returns the task's result, `-errno` as `{ ok: false }`.
   * Throws only for our own failures (`TASK_DIED`, `UNEXPECTED_STOP`, a SysError).
   */
  call(nr: number | SyscallName, ...args: (bigint | number)[]): RemoteResult {
    const v = this.#run(nr, args);
    if (v < 0n && v >= -4095n) return { ok: false, errno: Number(-v), code: errnoName(Number(-v)) };
    return { ok: true, value: v };
  }

  /** Like {@link call}, but `-errno` throws a {@link RemoteSyscallError}; returns the value. */
  syscall(nr: number | SyscallName, ...args: (bigint | number)[]): bigint {
    const v = this.#run(nr, args);
    if (v < 0n && v >= -4095n) {
      const num = this.#nr(nr);
      throw new RemoteSyscallError({ syscall: syscallName(num), nr: num, errno: Number(-v), tid: this.tracee.tid, args: args.map((a) => BigInt(a)), taskName: this.tracee.name });
    }
    return v;
  }

  /** Remote `mmap(addr, length, prot, flags, fd, offset)`; returns the new mapping's address. */
  mmap(length: number | bigint, opts?: RemoteMmapOptions): RemoteAddress {
    const prot = opts?.prot ?? PROT.READ | PROT.WRITE;
    const flags = opts?.flags ?? MAP.PRIVATE | MAP.ANONYMOUS;
    return remoteAddress(this.syscall('mmap', opts?.addr ?? 0n, length, prot, flags, opts?.fd ?? -1, opts?.offset ?? 0));
  }

  /** Remote `munmap(addr, length)`. */
  munmap(addr: bigint, length: number | bigint): void {
    this.syscall('munmap', addr, length);
  }

  /** Remote `mprotect(addr, length, prot)`. */
  mprotect(addr: bigint, length: number | bigint, prot: number): void {
    this.syscall('mprotect', addr, length, prot);
  }

  /** Remote `getpid()`: the task's pid in its own pid namespace. */
  getpid(): number {
    return Number(this.syscall('getpid'));
  }

  /** Remote `gettid()`. */
  gettid(): number {
    return Number(this.syscall('gettid'));
  }

  /**
   * Remote `mmap` of scratch memory holding `bytes` (written with process_vm_writev), `fn` on its
   * address, then remote `munmap` whatever happened.
   */
  withScratch<T>(bytes: Uint8Array, fn: (addr: RemoteAddress) => T): T {
    const page = BigInt(this.#arch.pageSize());
    const len = ((BigInt(Math.max(1, bytes.byteLength)) + page - 1n) / page) * page;
    const addr = this.mmap(len);
    let failed = false;
    try {
      this.tracee.writeMemory(addr, bytes);
      return fn(addr);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      if (this.tracee.state !== 'dead' && this.#open) {
        try {
          if (this.tracee.state === 'running') stopAgain(this.tracee, this.#timeoutMs);
          this.munmap(addr, len);
        } catch (err) {
          if (!failed) throw err;
        }
      }
    }
  }

  /**
   * Puts everything back: `PTRACE_POKEDATA` (the code word), `PTRACE_SETREGSET` (the registers),
   * `PTRACE_SETSIGMASK`. A task left running (a call that timed out) is interrupted first. Nothing
   * to do once the task died. Safe to call twice.
   */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    openScopes.delete(this.tracee);
    this.#unhook?.();
    const t = this.tracee;
    if (t.state === 'dead' || t.state === 'detached') return;
    try {
      if (t.state === 'running') stopAgain(t, this.#timeoutMs);
      if (this.#word !== null) t.poke(this.site, this.#word);
      t.setRegsBytes(this.#saved);
      const nrRegset = this.#arch.table.syscall.nrRegset;
      if (this.#nrRegset !== null && nrRegset !== null) t.setRegset(nrRegset, this.#nrRegset);
      if (this.#mask !== null) t.setSigmask(this.#mask);
    } catch (err) {
      if (isPtraceError(err, 'TASK_DIED')) return;
      throw err;
    }
  }

  /** Closes after a failed open; the open's error is the one the caller needs. */
  #closeQuietly(): void {
    try {
      this.close();
    } catch {
      // ignored: see above
    }
  }

  #nr(nr: number | SyscallName): number {
    return typeof nr === 'number' ? nr : this.#arch.nr[nr];
  }

  #run(nrOrName: number | SyscallName, args: (bigint | number)[]): bigint {
    if (!this.#open) throw new RemoteError('REMOTE_CLOSED', `The remote-syscall scope of ${this.tracee.name} is closed`, { tid: this.tracee.tid });
    const nr = this.#nr(nrOrName);
    const t = this.tracee;
    const regs = this.#scratch;
    regs.set(this.#saved);
    this.#arch.writeSyscall(regs, { nr, args, ip: this.site });
    t.setRegsBytes(regs);
    const nrRegset = this.#arch.table.syscall.nrRegset;
    if (nrRegset !== null) t.setRegset(nrRegset, new Uint8Array(Int32Array.of(-1).buffer));
    this.stats.syscalls++;
    t.cont();
    const done = this.#arch.trapStopIp(this.site);
    for (;;) {
      const st = t.waitStop({ timeoutMs: this.#timeoutMs });
      this.stats.stops++;
      if (!this.#trapped(st, nr)) continue;
      const after = t.getRegsBytes();
      const ip = this.#arch.readReg(after, this.#arch.table.ip);
      if (ip === done) return BigInt.asIntN(64, this.#arch.readReg(after, this.#arch.table.syscall.ret));
      // A SIGTRAP that is not ours (SIGTRAP stays unblocked): deliver it. A handler runs on the
      // registers we set and returns to them, so our syscall and trap still follow.
      if (ip === this.site || ip === this.site + BigInt(this.#arch.table.syscall.insnLength)) {
        t.cont(SIG.TRAP);
        continue;
      }
      throw new RemoteError('UNEXPECTED_STOP', `Remote ${syscallName(nr)} in ${t.name} trapped at 0x${ip.toString(16)}, not after the trap at 0x${this.site.toString(16)}`, { tid: t.tid });
    }
  }
  /** Handles one stop while a syscall runs; true at our trap. Resumes the task otherwise. */
  #trapped(st: WaitStatus, nr: number): boolean {
    const t = this.tracee;
    switch (st.kind) {
      case 'exited':
      case 'signaled':
        throw new PtraceError('TASK_DIED', `${cap(t.name)} died during remote ${syscallName(nr)}: ${describeWaitStatus(st)}`, { tid: t.tid, pid: t.pid, status: st });
      case 'stopped':
        if (st.signal === SIG.TRAP) return true;
        if (STOP_SIGNALS.has(st.signal)) {
          // Cannot be blocked: let it start its group-stop, which outlives our scope.
          t.cont(st.signal);
          return false;
        }
        throw new RemoteError('UNEXPECTED_STOP', `Remote ${syscallName(nr)} in ${t.name} stopped by signal ${st.signal} instead of the trap`, { tid: t.tid });
      case 'event':
        if (st.event === PTRACE_EVENT.FORK || st.event === PTRACE_EVENT.VFORK || st.event === PTRACE_EVENT.CLONE) this.newTasks.push(Number(t.eventMessage()));
        t.cont();
        return false;
      case 'syscall':
      case 'continued':
        t.cont();
        return false;
    }
  }
}

/** Stops a tracee we left running (a remote call that timed out): interrupt, wait for the stop. */
function stopAgain(t: Tracee, timeoutMs: number): void {
  t.interrupt();
  for (;;) {
    const st = t.waitStop({ timeoutMs });
    if (st.kind === 'exited' || st.kind === 'signaled') return;
    if (st.kind === 'event' && st.event === PTRACE_EVENT.STOP) return;
    t.cont(st.kind === 'stopped' && STOP_SIGNALS.has(st.signal) ? st.signal : 0);
  }
}

function patchWord(word: bigint, trap: Uint8Array): bigint {
  let out = word;
  trap.forEach((b, i) => {
    const shift = BigInt(i * 8);
    out = (out & ~(0xffn << shift)) | (BigInt(b) << shift);
  });
  return BigInt.asUintN(64, out);
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Opens a {@link RemoteSyscalls} scope on a stopped tracee, runs `fn`, and closes the scope on
 * every path (an error of `fn` wins over one of closing).
 */
export function withRemote<T>(tracee: Tracee, fn: (remote: RemoteSyscalls) => T, opts?: RemoteOptions): T {
  const remote = RemoteSyscalls.open(tracee, opts);
  let failed = false;
  try {
    return fn(remote);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    try {
      remote.close();
    } catch (err) {
      if (!failed) throw err;
    }
  }
}

/** One remote syscall in its own scope (open, call, close): `-errno` comes back as `{ ok: false }`. */
export function remoteSyscall(tracee: Tracee, nr: number | SyscallName, args: readonly (bigint | number)[], opts?: RemoteOptions): RemoteResult {
  return withRemote(tracee, (r) => r.call(nr, ...args), opts);
}

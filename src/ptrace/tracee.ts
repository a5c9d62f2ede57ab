/**
 * `Tracee`: one thread we trace with `PTRACE_SEIZE`. Every request is synchronous on the main
 * thread (the kernel answers only the thread that attached). The tracee keeps its own state
 * (running, stopped, dead, detached), so that a request on a task that cannot take it fails with a
 * clear {@link PtraceError} instead of a bare ESRCH, and a task that died under us is reported as
 * `TASK_DIED` once, with how it died.
 *
 * `PTRACE_O_EXITKILL` is refused on purpose: a target must survive the death of the driver.
 */

import { hostArchOps, type ArchOps, type Regs } from '../../arch/index.js';
import {
  addressOf, describeWaitStatus, isSysError, NT, ptrace, PTRACE, PTRACE_O, ptraceCont, ptraceDetach, ptraceGetEventMsg,
  ptraceGetRegset, ptraceGetSigmask, ptraceInterrupt, ptracePeekData, ptracePokeData, ptraceSeize, ptraceSetRegset,
  ptraceSetSigmask, ptraceSyscall, sleepSync, wait4, WAIT, type WaitStatus,
} from '../sys/index.js';
import { explainSeizeFailure, PtraceError, taskName } from './errors.js';
import { readTaskStatus } from './procfs.js';
import { countResume, countStop, waitForTid } from './stops.js';
import { TraceeMemory } from './tracee_memory.js';

/** Where a tracee is, as far as we know. */
export type TraceeState = 'running' | 'stopped' | 'dead' | 'detached';

/** Options of {@link Tracee.seize}. */
export interface SeizeOptions {
  /** `PTRACE_O_*` options (never `EXITKILL`). */
  options?: number;
  /** Suspend the task's seccomp filters while traced (`PTRACE_O_SUSPEND_SECCOMP`; CAP_SYS_ADMIN). */
  suspendSeccomp?: boolean;
  /** The thread's process (thread group) id, when the caller knows it; read from /proc otherwise. */
  pid?: number;
}

/** Options of waits. */
export interface WaitStopOptions {
  /** Poll for at most this long; 10 s when absent. A blocking wait is never used. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

let xstateSize = 0;

/** One traced thread. */
export class Tracee {
  /** The thread id. */
  readonly tid: number;
  /** Its process (thread group) id. */
  readonly pid: number;
  /** The ArchOps of the host (tracees run on it). */
  readonly arch: ArchOps;
  #state: TraceeState = 'running';
  #lastStop: WaitStatus | null = null;
  #exit: WaitStatus | null = null;
  #memory: TraceeMemory | null = null;
  readonly #beforeDetach = new Set<() => void>();
  // NT_PRSTATUS in and out, with their iovecs built once (addresses stay valid while these live).
  readonly #regsIn = new Uint8Array(512);
  readonly #regsOut = new Uint8Array(512);
  readonly #regsIov = BigUint64Array.of(addressOf(this.#regsIn), 512n);
  readonly #regsOutIov = BigUint64Array.of(addressOf(this.#regsOut), 512n);

  private constructor(tid: number, pid: number) {
    this.tid = tid;
    this.pid = pid;
    this.arch = hostArchOps();
  }

  /**
   * `ptrace(PTRACE_SEIZE, tid, 0, options)` — attaches without stopping the thread. EPERM is
   * explained: `PTRACE_BUSY` (someone else traces it, named from /proc TracerPid), `TASK_GONE`
   * (a zombie), else `PTRACE_DENIED`; ESRCH is `TASK_GONE`.
   */
  static seize(tid: number, opts?: SeizeOptions): Tracee {
    let options = opts?.options ?? 0;
    if ((options & PTRACE_O.EXITKILL) !== 0) throw new RangeError('PTRACE_O_EXITKILL is not allowed: a target must survive the death of the driver');
    if (opts?.suspendSeccomp) options |= PTRACE_O.SUSPEND_SECCOMP;
    const pid = opts?.pid ?? readTaskStatus(tid)?.tgid ?? tid;
    try {
      ptraceSeize(tid, { options, what: `seize ${taskName(tid, pid)}` });
    } catch (err) {
      throw explainSeizeFailure(err, tid, pid);
    }
    return new Tracee(tid, pid);
  }

  /**
   * A thread the kernel attached to us by itself (`PTRACE_O_TRACECLONE`/`TRACEFORK`/`TRACEVFORK`):
   * it is already seized and will report a `PTRACE_EVENT_STOP` first.
   */
  static adopt(tid: number, opts?: { pid?: number }): Tracee {
    return new Tracee(tid, opts?.pid ?? readTaskStatus(tid)?.tgid ?? tid);
  }

  /** Where the thread is, as far as we know. */
  get state(): TraceeState {
    return this.#state;
  }

  /** The stop the thread is in (the last wait status that stopped it), or null. */
  get lastStop(): WaitStatus | null {
    return this.#state === 'stopped' ? this.#lastStop : null;
  }

  /** How the thread ended, once we saw it (`exited`/`signaled`). */
  get exitStatus(): WaitStatus | null {
    return this.#exit;
  }

  /** `task 12` or `thread 13 of task 12`. */
  get name(): string {
    return taskName(this.tid, this.pid);
  }

  /** `ptrace(PTRACE_INTERRUPT, tid, 0, 0)` — asks the thread to stop; wait with {@link waitStop}. */
  interrupt(): void {
    this.#live('interrupt');
    this.#guard('interrupt', () => ptraceInterrupt(this.tid, { what: `interrupt ${this.name}` }));
  }

  /**
   * `wait4(tid, &status, __WALL | WNOHANG, NULL)` polled until something is reported or the deadline
   * passes (`STOP_TIMEOUT`). Returns the decoded status; an exit or death marks the tracee dead (the
   * caller decides whether that is an error).
   */
  waitStop(opts?: WaitStopOptions): WaitStatus {
    this.#live('wait for a stop of');
    const timeoutMs = opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let got;
    try {
      got = waitForTid(this.tid, timeoutMs, `wait for ${this.name} to stop`);
    } catch (err) {
      if (isSysError(err, 'ETIMEDOUT')) throw new PtraceError('STOP_TIMEOUT', `${cap(this.name)} did not stop within ${timeoutMs} ms`, { tid: this.tid, pid: this.pid, cause: err });
      if (isSysError(err, 'ECHILD')) throw this.#diedError('wait for a stop of', err);
      throw err;
    }
    return this.#record(got!.status);
  }

  /** Collects a pending report without waiting (`WNOHANG`); null when there is none. */
  pollStop(): WaitStatus | null {
    if (this.#state === 'dead' || this.#state === 'detached') return null;
    let got;
    try {
      got = wait4(this.tid, { flags: WAIT.ALL | WAIT.NOHANG });
    } catch (err) {
      if (isSysError(err, 'ECHILD')) return null;
      throw err;
    }
    return got === null ? null : this.#record(got.status);
  }

  /** Notes a status reported by a wait (ours, or a caller's that waited for this tid). */
  #record(status: WaitStatus): WaitStatus {
    countStop();
    switch (status.kind) {
      case 'exited':
      case 'signaled':
        this.#markDead(status);
        break;
      case 'stopped':
      case 'syscall':
      case 'event':
        this.#state = 'stopped';
        this.#lastStop = status;
        break;
      case 'continued':
        break;
    }
    return status;
  }

  /** `ptrace(PTRACE_CONT, tid, 0, sig)` — resumes the stopped thread. */
  cont(signal = 0): void {
    this.#stopped('resume');
    this.#guard('resume', () => ptraceCont(this.tid, { signal, what: `resume ${this.name}` }));
    countResume();
    this.#state = 'running';
  }

  /**
   * `ptrace(PTRACE_SYSCALL, tid, 0, sig)` — resumes the stopped thread until its next syscall
   * entry or exit stop (`{ kind: 'syscall' }` with `PTRACE_O_TRACESYSGOOD`).
   */
  resumeToSyscall(signal = 0): void {
    this.#stopped('resume');
    this.#guard('resume', () => ptraceSyscall(this.tid, { signal, what: `resume ${this.name} to its next syscall stop` }));
    countResume();
    this.#state = 'running';
  }

  /**
   * `ptrace(PTRACE_DETACH, tid, 0, sig)` — lets the thread go; it resumes (or stays in its
   * group-stop). A thread that died meanwhile is reaped instead, so that its parent can see it.
   */
  detach(signal = 0): void {
    if (this.#state === 'detached' || this.#state === 'dead') return this.#close();
    this.#runBeforeDetach();
    try {
      ptraceDetach(this.tid, { signal, what: `detach from ${this.name}` });
      countResume();
      this.#state = 'detached';
    } catch (err) {
      if (!isSysError(err, 'ESRCH')) throw err;
      // Not stopped (a running tracee must be stopped before it can be detached) or dying.
      if (this.#state === 'running' && this.#reapOrStop()) return this.detach(signal);
      if (!this.#awaitDeath(1000)) throw new PtraceError('NOT_STOPPED', `Cannot detach from ${this.name}: it is not in a ptrace stop`, { tid: this.tid, pid: this.pid, cause: err });
    }
    this.#close();
  }

  /**
   * Registers `fn` to run before this tracee is detached (a remote-syscall scope left open puts
   * the task's registers and code back there). Returns a function that unregisters it.
   */
  beforeDetach(fn: () => void): () => void {
    this.#beforeDetach.add(fn);
    return () => this.#beforeDetach.delete(fn);
  }

  #runBeforeDetach(): void {
    const hooks = [...this.#beforeDetach];
    this.#beforeDetach.clear();
    let first: unknown = null;
    for (const fn of hooks) {
      try {
        fn();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== null && this.#state !== 'dead') throw first;
  }

  /** Interrupts a running tracee and waits; true when it is now stopped (false when it died). */
  #reapOrStop(): boolean {
    try {
      ptraceInterrupt(this.tid);
      const st = this.waitStop({ timeoutMs: 2000 });
      return st.kind !== 'exited' && st.kind !== 'signaled';
    } catch {
      return false;
    }
  }

  /** `ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg)` — the new tid of a clone/fork event, and the like. */
  eventMessage(): bigint {
    this.#stopped('read the event message of');
    return this.#guard('read the event message of', () => ptraceGetEventMsg(this.tid));
  }

  /** `ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov)` — the general registers, decoded by ArchOps. */
  getRegs(): Regs {
    return this.arch.decodeRegs(this.getRegsBytes());
  }

  /** `ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov)` — sets the general registers. */
  setRegs(regs: Regs): void {
    this.setRegsBytes(this.arch.encodeRegs(regs, this.#regsOut));
  }

  /**
   * `ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov)` — the general registers as the kernel's
   * bytes, in a buffer of this tracee that the next call overwrites (copy it to keep it).
   */
  getRegsBytes(): Uint8Array {
    this.#stopped('read the registers of');
    const iov = this.#regsIov;
    iov[1] = BigInt(this.#regsIn.byteLength);
    this.#guard('read the registers of', () => ptrace(PTRACE.GETREGSET, this.tid, { addr: NT.PRSTATUS, data: iov, what: `read the registers of ${this.name}` }));
    return this.#regsIn.subarray(0, Number(iov[1]));
  }

  /** `ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov)` — sets the general registers from the kernel's bytes. */
  setRegsBytes(bytes: Uint8Array): void {
    this.#stopped('set the registers of');
    if (bytes.byteLength !== this.arch.regsSize) throw new RangeError(`NT_PRSTATUS is ${this.arch.regsSize} bytes, got ${bytes.byteLength}`);
    if (bytes.buffer !== this.#regsOut.buffer || bytes.byteOffset !== 0) this.#regsOut.set(bytes);
    const iov = this.#regsOutIov;
    iov[1] = BigInt(bytes.byteLength);
    this.#guard('set the registers of', () => ptrace(PTRACE.SETREGSET, this.tid, { addr: NT.PRSTATUS, data: iov, what: `set the registers of ${this.name}` }));
  }

  /** `ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE (or the arch's), &iov)` — the extended state, as raw bytes. */
  getXstate(): Uint8Array {
    this.#stopped('read the extended registers of');
    const { noteType, maxSize } = this.arch.table.xstate;
    const got = this.#guard('read the extended registers of', () => ptraceGetRegset(this.tid, noteType, { size: xstateSize || maxSize, what: `read the extended registers of ${this.name}` }));
    xstateSize ||= got.byteLength;
    return got.slice();
  }

  /** `ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE (or the arch's), &iov)` — sets the extended state. */
  setXstate(bytes: Uint8Array): void {
    this.#stopped('set the extended registers of');
    const { noteType } = this.arch.table.xstate;
    this.#guard('set the extended registers of', () => ptraceSetRegset(this.tid, noteType, { data: bytes, what: `set the extended registers of ${this.name}` }));
  }

  /** `ptrace(PTRACE_GETREGSET, tid, noteType, &iov)` — any other register set, raw (at most `size` bytes). */
  getRegset(noteType: number, size: number): Uint8Array {
    this.#stopped('read a register set of');
    return this.#guard('read a register set of', () => ptraceGetRegset(this.tid, noteType, { size, what: `read register set 0x${noteType.toString(16)} of ${this.name}` })).slice();
  }

  /** `ptrace(PTRACE_SETREGSET, tid, noteType, &iov)` — sets any other register set. */
  setRegset(noteType: number, bytes: Uint8Array): void {
    this.#stopped('set a register set of');
    this.#guard('set a register set of', () => ptraceSetRegset(this.tid, noteType, { data: bytes, what: `set register set 0x${noteType.toString(16)} of ${this.name}` }));
  }

  /** The size of the extended register set on this CPU (probed with GETREGSET once). */
  xstateSize(): number {
    if (xstateSize === 0) this.getXstate();
    return xstateSize;
  }

  /** `ptrace(PTRACE_PEEKDATA, tid, addr, &word)` — one 8-byte word of the task's memory. */
  peek(addr: bigint): bigint {
    this.#stopped('read the memory of');
    return this.#guard('read the memory of', () => ptracePeekData(this.tid, addr, { what: `read a word of ${this.name}` }));
  }

  /** `ptrace(PTRACE_POKEDATA, tid, addr, word)` — writes one word, read-only code included. */
  poke(addr: bigint, word: bigint): void {
    this.#stopped('write the memory of');
    this.#guard('write the memory of', () => ptracePokeData(this.tid, addr, { word, what: `write a word of ${this.name}` }));
  }

  /** The task's memory (process_vm_readv/writev, /proc/PID/mem for what they cannot reach). */
  get memory(): TraceeMemory {
    this.#memory ??= new TraceeMemory(this.tid, this.pid);
    return this.#memory;
  }

  /** Reads `length` bytes at `addr` (see {@link TraceeMemory.read}). */
  readMemory(addr: bigint, length: number): Uint8Array {
    return this.#guard('read the memory of', () => this.memory.read(addr, length));
  }

  /** Writes `bytes` at `addr` (see {@link TraceeMemory.write}). */
  writeMemory(addr: bigint, bytes: Uint8Array): void {
    this.#guard('write the memory of', () => this.memory.write(addr, bytes));
  }

  /** `ptrace(PTRACE_GETSIGMASK, tid, 8, &mask)` — the blocked signals (bit n-1 is signal n). */
  getSigmask(): bigint {
    this.#stopped('read the signal mask of');
    return this.#guard('read the signal mask of', () => ptraceGetSigmask(this.tid, { what: `read the signal mask of ${this.name}` }));
  }

  /** `ptrace(PTRACE_SETSIGMASK, tid, 8, &mask)` — sets the blocked signals. */
  setSigmask(mask: bigint): void {
    this.#stopped('set the signal mask of');
    this.#guard('set the signal mask of', () => ptraceSetSigmask(this.tid, mask, { what: `set the signal mask of ${this.name}` }));
  }

  #live(doing: string): void {
    if (this.#state === 'dead') throw this.#diedError(doing);
    if (this.#state === 'detached') throw new PtraceError('NOT_STOPPED', `Cannot ${doing} ${this.name}: it was detached`, { tid: this.tid, pid: this.pid });
  }

  #stopped(doing: string): void {
    this.#live(doing);
    if (this.#state !== 'stopped') throw new PtraceError('NOT_STOPPED', `Cannot ${doing} ${this.name}: it is not stopped`, { tid: this.tid, pid: this.pid });
  }

  /**
   * Runs a request; ESRCH means the thread is not in a ptrace stop, which for a thread we stopped
   * means it is dying (SIGKILL): collect its exit and throw `TASK_DIED`.
   */
  #guard<T>(doing: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!isSysError(err, 'ESRCH')) throw err;
      if (this.#awaitDeath(500)) throw this.#diedError(doing, err);
      throw new PtraceError('NOT_STOPPED', `Cannot ${doing} ${this.name}: it is not in a ptrace stop`, { tid: this.tid, pid: this.pid, cause: err });
    }
  }

  /** Polls for the thread's exit report for up to `ms`; true once it is dead. */
  #awaitDeath(ms: number): boolean {
    const deadline = performance.now() + ms;
    for (;;) {
      const st = this.pollStop();
      if (this.#state === 'dead') return true;
      if (st !== null && st.kind !== 'exited' && st.kind !== 'signaled') return false;
      const status = readTaskStatus(this.tid);
      if (status === null) return (this.#markDead(null), true);
      if (performance.now() > deadline) return false;
      sleepSync(1);
    }
  }

  #markDead(status: WaitStatus | null): void {
    this.#state = 'dead';
    this.#exit = status ?? this.#exit;
    this.#close();
  }

  #diedError(doing: string, cause?: unknown): PtraceError {
    if (this.#state !== 'dead') this.#awaitDeath(500);
    const how = this.#exit === null ? 'is gone' : describeWaitStatus(this.#exit);
    return new PtraceError('TASK_DIED', `Cannot ${doing} ${this.name}: it died (${how})`, { tid: this.tid, pid: this.pid, status: this.#exit ?? undefined, cause });
  }

  #close(): void {
    this.#memory?.close();
    this.#memory = null;
  }
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}


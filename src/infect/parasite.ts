/**
 * `Parasite`: the driver side of the parasite (parasite/protocol.md). {@link Parasite.infect} maps
 * one shared area into a stopped task (one remote `mmap(MAP_SHARED | MAP_ANONYMOUS)`, opened here
 * through `/proc/PID/map_files`), copies the blob, writes the leader's sigframe and control block,
 * starts the daemon with every signal blocked and accepts its connection. Commands then go over the
 * socket; bulk results are read from our own mapping of the area. Other threads of the process run
 * single commands in thread mode ({@link Parasite.threadMisc}). {@link Parasite.cure} sends FINI,
 * follows the leader to its `rt_sigreturn`, and unmaps the area with one remote `munmap`.
 *
 * Every failure puts the task back: a parasite that faults or stops answering is stopped, the
 * thread gets its saved registers, extended state and mask by hand, and the area is unmapped.
 * The tracees stay stopped throughout; thawing them is the caller's (the freezer's) business.
 */

import { parasiteArch } from './arch.js';
import type { ParasiteArch } from '../../arch/x86_64/parasite.js';
import {
  CMD, CTL, decodeMisc, decodeSigactions, decodeTimers, encodeFdList, encodeTimerIds, MISC, MISC_F_THREAD, MSG_F_MORE, readControlBlock,
  writeControlBlock, type Message, type MiscResult, type SigactionEntry, type TimerResult,
} from '../../parasite/protocol.js';
import { isPtraceError, PtraceError, readTaskStatus, type Tracee } from '../ptrace/index.js';
import { withRemote } from '../remote/index.js';
import { close, errnoName, isSysError, MAP, mmap, munmap, O, open, PROT, sleepSync, viewMemory } from '../sys/index.js';
import { ControlChannel } from './channel.js';
import { InfectError, isInfectError } from './errors.js';
import { areaLayout, type AreaLayout } from './layout.js';
import { MemoryPipe, type MemoryOptions, type MemoryRange, type MemoryResult } from './memory.js';
import { followToSigreturn, frameRegs, passOn, restoreThread, saveThread, startThread, stopThread, type SavedThread } from './run.js';

/** Options of {@link Parasite.infect}. */
export interface InfectOptions {
  /** Bytes of the args/results area (MEMORY ranges, FDS lists, timers); 1 MiB when absent. */
  argsSize?: number;
  /** Bytes of each parasite stack; 64 KiB when absent. */
  stackSize?: number;
  /** How long the parasite may take to connect, to answer, to leave; 10 s when absent. */
  timeoutMs?: number;
}

/** Counters of one infection, for bench/ and logs. */
export interface InfectStats {
  /** Remote syscalls (the area's mmap and munmap). */
  remoteSyscalls: number;
  /** Commands sent and replies received on the control socket. */
  commands: number;
  replies: number;
  /** Thread-mode runs, and the ptrace stops they took. */
  threadRuns: number;
  threadStops: number;
  /** Stops from FINI to the leader's rt_sigreturn exit. */
  finiStops: number;
}

/** A parasite living in one task, until {@link Parasite.cure}. */
export class Parasite {
  readonly leader: Tracee;
  /** The area's address in the task. */
  readonly address: bigint;
  readonly layout: AreaLayout;
  readonly stats: InfectStats = { remoteSyscalls: 0, commands: 0, replies: 0, threadRuns: 0, threadStops: 0, finiStops: 0 };
  readonly #arch: ParasiteArch;
  readonly #entries: { daemon: number; thread: number; sigreturn: number };
  readonly #local: bigint;
  readonly #area: Uint8Array;
  readonly #saved: SavedThread;
  readonly #timeoutMs: number;
  readonly #channel: ControlChannel;
  readonly #pipe = new MemoryPipe();
  #cured = false;

  private constructor(leader: Tracee, init: { arch: ParasiteArch; address: bigint; local: bigint; layout: AreaLayout; saved: SavedThread; timeoutMs: number }) {
    this.leader = leader;
    this.address = init.address;
    this.layout = init.layout;
    this.#arch = init.arch;
    this.#entries = init.arch.blob().entries;
    this.#local = init.local;
    this.#area = viewMemory(init.local, init.layout.size);
    this.#saved = init.saved;
    this.#timeoutMs = init.timeoutMs;
    this.#channel = new ControlChannel({ tid: leader.tid, pid: leader.pid });
  }

  /**
   * Infects the stopped thread-group leader `leader`: maps the area (remote `mmap`), starts the
   * daemon (`PTRACE_SETREGSET`, `PTRACE_SETSIGMASK`, `PTRACE_CONT`) and accepts its connection.
   */
  static infect(leader: Tracee, opts?: InfectOptions): Parasite {
    const arch = parasiteArch(leader.arch.arch, leader.tid);
    const blob = arch.blob();
    const saved = saveThread(leader);
    const layout = areaLayout({
      blobSize: blob.bytes.length,
      page: leader.arch.pageSize(),
      argsSize: opts?.argsSize ?? 1 << 20,
      frameSize: arch.sigframeSize(saved.xstate.byteLength),
      frameAlign: arch.frameAlign,
      ...(opts?.stackSize === undefined ? {} : { stackSize: opts.stackSize }),
    });
    let remoteSyscalls = 0;
    const address = withRemote(leader, (r) => {
      const a = r.mmap(layout.size, { prot: PROT.READ | PROT.WRITE | PROT.EXEC, flags: MAP.SHARED | MAP.ANONYMOUS });
      remoteSyscalls = r.stats.syscalls;
      return a;
    });
    let local = 0n;
    let parasite: Parasite | null = null;
    try {
      local = mapHere(leader.pid, address, layout.size);
      parasite = new Parasite(leader, { arch, address, local, layout, saved, timeoutMs: opts?.timeoutMs ?? 10_000 });
      parasite.stats.remoteSyscalls = remoteSyscalls;
      parasite.#start(blob.bytes);
      return parasite;
    } catch (err) {
      try {
        if (parasite !== null) parasite.#abort();
        else {
          if (local !== 0n) munmap(local, layout.size);
          if (leader.state !== 'dead') withRemote(leader, (r) => r.munmap(address, layout.size));
        }
      } catch {
        // the first failure is the one to report
      }
      throw err;
    }
  }

  /** Writes the blob, the leader's frame and control block; starts the daemon; accepts it. */
  #start(blob: Uint8Array): void {
    const L = this.layout;
    this.#area.set(blob, L.blob);
    const t = this.leader;
    const frame = this.#arch.buildSigframe({ regs: frameRegs(t, this.#saved), sigmask: this.#saved.mask, xstate: this.#saved.xstate, address: this.address + BigInt(L.frame) });
    this.#area.set(frame.bytes, L.frame);
    writeControlBlock(this.#area.subarray(L.ctl, L.ctl + CTL.SIZE), {
      sigreturnSp: frame.sigreturnSp,
      args: this.address + BigInt(L.args),
      argsSize: L.argsSize,
      addr: this.#channel.address,
    });
    startThread(t, this.#saved, { ip: this.address + BigInt(this.#entries.daemon), sp: this.address + BigInt(L.stackTop), arg: this.address + BigInt(L.ctl) });
    t.cont();
    this.#channel.accept(this.#timeoutMs, () => this.#check());
  }

  /** Between waits: a stop of the leader while the daemon runs is a stop signal to pass on, or a fault. */
  #check(): void {
    const st = this.leader.pollStop();
    if (st === null) return;
    const signal = passOn(this.leader, st);
    this.leader.cont(signal);
  }

  /** The args/results area, seen in our mapping. */
  get args(): Uint8Array {
    return this.#area.subarray(this.layout.args, this.layout.args + this.layout.argsSize);
  }

  #live(what: string): void {
    if (this.#cured) throw new InfectError('PARASITE_CURED', `Cannot run ${what}: the parasite of task ${this.leader.pid} was taken out`, { tid: this.leader.tid, pid: this.leader.pid, command: what });
  }

  #send(m: Partial<Message> & { cmd: number }, fds?: readonly number[]): number {
    this.stats.commands++;
    try {
      return this.#channel.send(m, fds);
    } catch (err) {
      if (isSysError(err, 'EPIPE') || isSysError(err, 'ECONNRESET')) this.#gone(err);
      throw err;
    }
  }

  #recv(cmd: number, seq: number): { msg: Message; fds: number[] } {
    try {
      const got = this.#channel.recv(cmd, seq, this.#timeoutMs, () => this.#check());
      this.stats.replies++;
      return got;
    } catch (err) {
      if (isInfectError(err, 'PARASITE_GONE') || isSysError(err, 'ECONNRESET')) this.#gone(err);
      throw err;
    }
  }

  /**
   * The control socket broke: says why. A task that died (or is dying: a killed process's leader
   * is reported only once its other threads are reaped) is `TASK_DIED`, a parasite that faulted
   * `PARASITE_FAULT`, else `PARASITE_GONE`. Looks for up to a second.
   */
  #gone(cause: unknown): never {
    const t = this.leader;
    const deadline = performance.now() + 1000;
    while (performance.now() < deadline) {
      if (this.#processDead()) throw new PtraceError('TASK_DIED', `Task ${t.pid} died while infected`, { tid: t.tid, pid: t.pid, cause });
      const st = t.pollStop();
      if (st !== null) t.cont(passOn(t, st));
      sleepSync(2);
    }
    throw new InfectError('PARASITE_GONE', `The parasite in task ${t.pid} closed its control socket`, { tid: t.tid, pid: t.pid, cause });
  }

  /** True once the leader's process is gone or a zombie (its threads may still await reaping). */
  #processDead(): boolean {
    if (this.leader.state === 'dead') return true;
    const s = readTaskStatus(this.leader.pid);
    return s === null || s.state === 'Z' || s.state === 'X';
  }

  /** One command, one reply; a negative status throws `PARASITE_COMMAND`. */
  #command(name: keyof typeof CMD, m: Partial<Message> = {}): Message {
    this.#live(name);
    return this.#guard(() => {
      const seq = this.#send({ ...m, cmd: CMD[name] });
      const { msg, fds } = this.#recv(CMD[name], seq);
      for (const fd of fds) close(fd);
      this.#failed(name, msg);
      return msg;
    });
  }

  #failed(name: string, msg: Message): void {
    if (msg.status >= 0) return;
    const index = msg.index === 0xffffffff ? undefined : msg.index;
    throw new InfectError('PARASITE_COMMAND', `${name} failed in task ${this.leader.pid}: ${errnoName(-msg.status)}${index === undefined ? '' : ` (entry ${index})`}`, {
      tid: this.leader.tid, pid: this.leader.pid, command: name, errno: -msg.status, ...(index === undefined ? {} : { index }),
    });
  }

  /**
   * Runs `fn`. A command the task refused (`PARASITE_COMMAND`) leaves the parasite serving; any
   * other failure (a fault, a timeout, a broken socket, a death) puts the task back and ends it.
   */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof InfectError && err.code === 'PARASITE_COMMAND')) {
        try {
          this.#abort();
        } catch {
          // the first failure is the one to report
        }
      }
      throw err;
    }
  }

  /** PING: a0..a4 come back. */
  ping(values: readonly bigint[] = []): bigint[] {
    const a = [0, 1, 2, 3, 4].map((i) => values[i] ?? 0n) as [bigint, bigint, bigint, bigint, bigint];
    return [...this.#command('PING', { a }).a];
  }

  /** SIGACTIONS: every signal's action (1..64; SIGKILL and SIGSTOP come back zero). */
  sigactions(): SigactionEntry[] {
    this.#command('SIGACTIONS');
    return decodeSigactions(this.args);
  }

  /** MISC: the task's per-process and leader's per-thread state, and the POSIX timers listed (ids from /proc/PID/timers). */
  misc(timerIds: readonly number[] = []): { misc: MiscResult; timers: TimerResult[] } {
    encodeTimerIds(this.args, timerIds);
    const reply = this.#command('MISC', { nr: timerIds.length });
    return { misc: decodeMisc(this.args), timers: decodeTimers(this.args, reply.nr) };
  }

  /**
   * FDS: the task's fds `list`, received here in order (close them when done). A closed fd fails
   * the whole command (`PARASITE_COMMAND`, `index` = its position) before anything is sent.
   */
  fds(list: readonly number[]): number[] {
    this.#live('FDS');
    encodeFdList(this.args, list);
    return this.#guard(() => {
      const seq = this.#send({ cmd: CMD.FDS, nr: list.length });
      const out: number[] = [];
      try {
        for (;;) {
          const { msg, fds } = this.#recv(CMD.FDS, seq);
          out.push(...fds);
          this.#failed('FDS', msg);
          if (fds.length !== msg.nr) throw new InfectError('PARASITE_PROTOCOL', `FDS reply of task ${this.leader.pid} announced ${msg.nr} fds and carried ${fds.length}`, { tid: this.leader.tid, pid: this.leader.pid, command: 'FDS' });
          if ((msg.flags & MSG_F_MORE) === 0) return out;
        }
      } catch (err) {
        for (const fd of out) close(fd);
        throw err;
      }
    });
  }

  /** MEMORY: the page-aligned `ranges`, in order, to `opts.outFd` (see {@link MemoryResult}). */
  memory(ranges: readonly MemoryRange[], opts: MemoryOptions): MemoryResult {
    this.#live('MEMORY');
    return this.#guard(() =>
      this.#pipe.run(
        {
          args: this.args,
          send: (m, fds) => this.#send(m, fds),
          recv: (cmd, seq) => this.#recv(cmd, seq).msg,
          tid: this.leader.tid,
          pid: this.leader.pid,
        },
        ranges,
        opts,
      ),
    );
  }

  /**
   * Thread mode: MISC (per-thread items) run by the stopped thread `thread` of the same process,
   * followed with `PTRACE_SYSCALL` to its own rt_sigreturn. The thread ends where it was, stopped.
   */
  threadMisc(thread: Tracee): MiscResult {
    this.#live('MISC in a thread');
    if (thread.tid === this.leader.tid) throw new RangeError(`Thread mode runs in the other threads of task ${this.leader.pid}, not in the one running the daemon`);
    const L = this.layout;
    const saved = saveThread(thread);
    const frame = this.#arch.buildSigframe({ regs: frameRegs(thread, saved), sigmask: saved.mask, xstate: saved.xstate, address: this.address + BigInt(L.threadFrame) });
    this.#area.set(frame.bytes, L.threadFrame);
    const ctl = this.#area.subarray(L.threadCtl, L.threadCtl + CTL.SIZE);
    writeControlBlock(ctl, {
      sigreturnSp: frame.sigreturnSp,
      args: this.address + BigInt(L.threadArgs),
      argsSize: L.threadArgsSize,
      command: { cmd: CMD.MISC, flags: MISC_F_THREAD },
    });
    startThread(thread, saved, { ip: this.address + BigInt(this.#entries.thread), sp: this.address + BigInt(L.threadStackTop), arg: this.address + BigInt(L.threadCtl) });
    this.stats.threadRuns++;
    try {
      this.stats.threadStops += followToSigreturn(thread, this.#sigreturnIp(thread), this.#timeoutMs);
    } catch (err) {
      if (!isPtraceError(err, 'TASK_DIED')) restoreThread(thread, saved);
      throw err;
    }
    const reply = readControlBlock(ctl).reply;
    this.#failed('MISC', reply);
    return decodeMisc(this.#area.subarray(L.threadArgs, L.threadArgs + MISC.SIZE));
  }

  #sigreturnIp(t: Tracee): bigint {
    return this.address + BigInt(this.#entries.sigreturn + t.arch.table.syscall.insnLength);
  }

  /**
   * Takes the parasite out: `PTRACE_INTERRUPT`, FINI, `PTRACE_SYSCALL` stops up to the leader's
   * rt_sigreturn (its own registers, mask and altstack back), then a remote `munmap` of the area.
   * The leader stays stopped. Safe to call twice.
   */
  cure(): void {
    if (this.#cured) return;
    const t = this.leader;
    try {
      stopThread(t, this.#timeoutMs);
      // A stop by a signal here is the parasite's fault (stop signals were passed on): passOn throws.
      if (t.lastStop?.kind === 'stopped') passOn(t, t.lastStop);
      this.#channel.send({ cmd: CMD.FINI });
      this.stats.commands++;
      this.stats.finiStops = followToSigreturn(t, this.#sigreturnIp(t), this.#timeoutMs);
    } catch (err) {
      this.#abort();
      throw err;
    }
    this.#release();
  }

  /**
   * Puts the leader back by hand (stopping it first if it runs): registers, extended state, mask;
   * then closes in the task the fds the control block says the parasite still holds, and releases
   * the area.
   */
  #abort(): void {
    if (this.#cured) return;
    const t = this.leader;
    const L = this.layout;
    const ctl = readControlBlock(this.#area.subarray(L.ctl, L.ctl + CTL.SIZE));
    try {
      if (!this.#processDead()) {
        if (t.state === 'running') stopThread(t, this.#timeoutMs);
        restoreThread(t, this.#saved);
      }
    } catch (err) {
      if (!isPtraceError(err, 'TASK_DIED')) throw err;
    } finally {
      this.#release([ctl.sockFd, ...ctl.pipeFds].filter((fd) => fd >= 0));
    }
  }

  /** Closes our ends, unmaps our view and (the task still alive) closes `taskFds` and unmaps the task's area. */
  #release(taskFds: readonly number[] = []): void {
    this.#cured = true;
    this.#channel.close();
    this.#pipe.close();
    munmap(this.#local, this.layout.size);
    if (!this.#processDead()) {
      withRemote(this.leader, (r) => {
        for (const fd of taskFds) r.call('close', fd);
        r.munmap(this.address, this.layout.size);
        this.stats.remoteSyscalls += r.stats.syscalls;
      });
    }
  }
}

/** Maps the task's area here too: `open(/proc/PID/map_files/START-END)` + `mmap(MAP_SHARED)`. */
function mapHere(pid: number, address: bigint, size: number): bigint {
  const path = `/proc/${pid}/map_files/${address.toString(16)}-${(address + BigInt(size)).toString(16)}`;
  const fd = open(path, { flags: O.RDWR | O.CLOEXEC, what: 'open the parasite area' });
  try {
    return mmap(size, { prot: PROT.READ | PROT.WRITE, flags: MAP.SHARED, fd, what: 'map the parasite area' });
  } finally {
    close(fd);
  }
}

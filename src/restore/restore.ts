/**
 * `criu-ts restore`: brings a process tree back from CRIU images, all or nothing.
 *
 *   1. plan: every image read and checked, the PIDs free, the files there with their sizes;
 *      the files opened in the driver (nothing started yet: any failure leaves nothing behind);
 *   2. tree: a seed process (src/restore/seed.ts), with --unshare pid a PID namespace's init
 *      under it (src/restore/pidns.ts), the tasks cloned with their PIDs, each by its parent or
 *      what must make it in its session (src/restore/births.ts), sessions and groups set; the
 *      seed then exits, and the root (or the init) is our child;
 *   3. per task: a bootstrap area with the restorer blob, the memory (src/restore/mm.ts), the fd
 *      table and fs (src/restore/files/install.ts), the threads (src/restore/threads.ts), the
 *      task-wide and per-thread state (src/restore/state.ts), then each thread into its saved
 *      state and the bootstrap unmapped (src/restore/switch.ts); every task waits, stopped;
 *   4. all tasks let go at once (PTRACE_DETACH); the namespace's init starts reaping.
 *
 * Any failure after step 1 kills every task created (SIGKILL) and reaps it before the error,
 * which names the task, the image and the step, is thrown.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { CriuTsError } from '../errors.js';
import { readMaps } from '../proc/index.js';
import { ptraceStats, resetPtraceStats, type Tracee } from '../ptrace/index.js';
import { hostArch, isSysError, kill, pageSize, ptraceGetRseqConfiguration, SIG, type RseqConfiguration } from '../sys/index.js';
import { restoreArch, type RestoreArch } from './arch.js';
import { runBatch } from './batch.js';
import { Bootstrap, bootstrapLayout } from './bootstrap.js';
import { checkFiles, checkPidsFree } from './checks.js';
import { credsDiffer } from './creds.js';
import { RestoreError, stepFailed } from './errors.js';
import { installFiles } from './files/install.js';
import { DriverFiles } from './files/open.js';
import { restoreMemory } from './mm.js';
import { loadPlan, TASK_STATE, type RestorePlan } from './plan.js';
import { TaskRegistry } from './registry.js';
import { startSeed } from './seed.js';
import { taskStateBatch, threadSigmask, threadStateBatch } from './state.js';
import { dropBootstrap, enterThread } from './switch.js';
import { createThreads } from './threads.js';
import { checkParents, createTree, type LiveTask } from './tree.js';
import { startPidNamespace, startReaping, type PidNamespace } from './pidns.js';
import { posixTimersOf, restorePosixTimers } from './posix_timers.js';
import { seccompDataBytes, seccompSteps, suspendSeccomp, verifySeccomp } from './seccomp.js';
import { sharesWithParent } from './shared.js';
import { planVdso } from './vdso.js';
import { finishZombies } from './zombies.js';
import { isTcpConnection, unrestorableConnection } from './files/inet.js';
import { unlockNetwork } from './network_unlock.js';
import { readSingle } from '../images/typed.js';
import type { InetSkEntry } from '../images/generated/types.js';

/** Options of {@link restoreTree}. */
export interface RestoreOptions {
  imagesDir: string;
  log?: (message: string) => void;
  /** Checked between steps: a restore asked to stop is abandoned cleanly (every task killed). */
  interrupted?: () => boolean;
  /** `--tcp-established`: TCP connections are rebuilt in repair mode (without it they are refused). */
  tcpEstablished?: boolean;
  /** `--tcp-close`: TCP connections come back as closed sockets (required if dumped so). */
  tcpClose?: boolean;
  /** `--ext-unix-sk`: Unix sockets dumped with a peer outside the tree connect to it again (by its name). */
  extUnixSk?: boolean;
  /** `--shell-job`: a tree that was a shell's job joins criu-ts's session and terminal (src/restore/shell_job.ts). */
  shellJob?: boolean;
  /** `--unshare pid`: the tree gets a PID namespace (and /proc) of its own, where its PIDs are free (src/restore/pidns.ts). */
  unsharePid?: boolean;
}

/** What a restore did. */
export interface RestoreResult {
  /** The root's PID in the images. */
  rootPid: number;
  /** The root's PID on this machine: `rootPid`, unless the tree has a PID namespace of its own. */
  rootHostPid: number;
  /** With --unshare pid: the namespace's init on this machine, our child, which exits with the root's exit code. */
  initPid?: number;
  pids: number[];
  stats: { planMs: number; treeMs: number; tasksMs: number; totalMs: number; pages: bigint; ptraceStops: number };
}

const BLOCK_BUT_TRAP = ((1n << 64n) - 1n) & ~(1n << 4n);

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Restores the tree in `opts.imagesDir`; returns once every task runs on its own. */
export async function restoreTree(opts: RestoreOptions): Promise<RestoreResult> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  resetPtraceStats();
  const rarch = restoreArch(hostArch());
  const plan = loadPlan(opts.imagesDir, { arch: hostArch(), pageSize: pageSize(), shellJob: opts.shellJob ?? false });
  if (plan.shellJob !== undefined) log(`shell job: session ${plan.shellJob.fromSid} -> ${plan.shellJob.sid}${plan.shellJob.fromPgid === undefined ? '' : `, group ${plan.shellJob.fromPgid} -> ${plan.shellJob.pgid}`}`);
  checkPidsFree(plan, { pidns: opts.unsharePid ?? false });
  checkFiles(plan);
  checkTcpOptions(plan, opts);
  const files = DriverFiles.openAll(plan, { ...(opts.tcpClose ? { tcp: 'close' } : opts.tcpEstablished ? { tcp: 'established' } : {}), extUnixSk: opts.extUnixSk ?? false, shellJob: opts.shellJob ?? false, log });
  const planMs = performance.now() - t0;
  log(`plan: ${plan.tasks.length} task(s) from ${plan.dir} in ${planMs.toFixed(1)} ms`);

  const registry = new TaskRegistry();
  let live: Map<number, LiveTask> | null = null;
  let pages = 0n;
  const checkInterrupt = async () => {
    await yieldToEvents();
    if (opts.interrupted?.()) throw new RestoreError('RESTORE_INTERRUPTED', `Restore of ${plan.dir} interrupted: every task created was killed`);
  };
  let treeMs = 0;
  let ns: PidNamespace | undefined;
  try {
    const seed = startSeed({ avoid: new Set(plan.tasks.flatMap((t) => t.threads.map((th) => th.tid))), inShellSession: plan.shellJob !== undefined });
    registry.addProcess(seed);
    try {
      if (opts.unsharePid) ns = startPidNamespace(seed, registry, { log });
      live = createTree(plan, seed, registry, { log, ...(ns === undefined ? { isFree: (pid) => !existsSync(`/proc/${pid}`) } : { init: ns.init }) });
    } catch (err) {
      throw stepFailed(err, { pid: plan.root.pid, step: 'create the tree', image: 'pstree.img' });
    }
    retireSeed(seed, registry);
    const tree = live;
    files.setOwners((pid) => tree.get(pid)?.leader.pid ?? pid);
    treeMs = performance.now() - t0 - planMs;
    log(`tree: ${live.size} task(s) in ${treeMs.toFixed(1)} ms`);
    const shmemOwners = new Map<bigint, { pid: number; start: bigint; end: bigint }>();
    const epollsDone = new Set<number>();
    for (const task of live.values()) {
      if (task.plan.zombie) continue;
      await checkInterrupt();
      pages += restoreTask(plan, task, { rarch, files, registry, shmemOwners, epollsDone, log, ...(ns === undefined ? {} : { driverPidfd: ns.driverPidfd }) });
    }
    finishZombies(plan, live, log);
    checkParents(plan, live);
    await checkInterrupt();
  } catch (err) {
    const left = registry.killAll();
    files.close();
    if (left.length > 0) log(`tasks still there after the failure: ${left.join(', ')}`);
    if (err instanceof CriuTsError) throw err;
    throw new RestoreError('RESTORE_FAILED', `Restore failed: ${(err as Error).message}`, { cause: err });
  }
  // Connections leave repair mode just before the tree runs, then their packets flow again.
  const connections = files.resumeConnections();
  files.close();
  if (connections > 0 || opts.tcpClose) unlockNetwork(plan, tcpConnectionsOf(plan), log);
  release(live);
  if (ns !== undefined) startReaping(ns, rarch.blob(), plan.root.pid);
  const totalMs = performance.now() - t0;
  log(`restored ${live.size} task(s) in ${totalMs.toFixed(1)} ms`);
  return {
    rootPid: plan.root.pid,
    rootHostPid: live.get(plan.root.pid)!.leader.pid,
    ...(ns === undefined ? {} : { initPid: ns.init.pid }),
    pids: plan.tasks.map((t) => t.pid),
    stats: { planMs, treeMs, tasksMs: totalMs - planMs - treeMs, totalMs, pages, ptraceStops: ptraceStats().stops },
  };
}

/**
 * CRIU's rule: images dumped with --tcp-close need --tcp-close on restore. With
 * --tcp-established, every connection must be in a state that is rebuilt (not SYN_SENT).
 */
function checkTcpOptions(plan: RestorePlan, opts: RestoreOptions): void {
  const closed = readSingle(plan.images, 'inventory').tcp_close ?? false;
  if (closed && !opts.tcpClose) {
    throw new RestoreError('RESTORE_UNSUPPORTED', `The images in ${plan.dir} were dumped with --tcp-close: restore them with --tcp-close too`, { image: 'inventory.img' });
  }
  if (closed || opts.tcpClose || !opts.tcpEstablished) return;
  for (const task of plan.tasks) {
    for (const fd of task.fds ?? []) {
      const sk = plan.files.get(fd.id)?.isk;
      const refused = sk === undefined ? undefined : unrestorableConnection(sk);
      if (refused !== undefined) throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid}, fd ${fd.fd}: ${refused}`, { pid: task.pid, image: 'files.img' });
    }
  }
}

/** The TCP connections of the images (their sockets' entries). */
function tcpConnectionsOf(plan: RestorePlan): InetSkEntry[] {
  return [...plan.files.values()].flatMap((f) => (f.isk !== undefined && isTcpConnection(f.isk) ? [f.isk] : []));
}

/** `kill(seed, SIGKILL)` and reap it: the root, its only child, falls back to us (the subreaper). */
function retireSeed(seed: Tracee, registry: TaskRegistry): void {
  kill(seed.pid, SIG.KILL);
  for (;;) {
    const st = seed.waitStop({ timeoutMs: 5000 });
    if (st.kind === 'exited' || st.kind === 'signaled') break;
  }
  registry.forget(seed.pid);
}

interface TaskDeps {
  rarch: RestoreArch;
  files: DriverFiles;
  registry: TaskRegistry;
  shmemOwners: Map<bigint, { pid: number; start: bigint; end: bigint }>;
  /** Epoll files whose targets a task already added. */
  epollsDone: Set<number>;
  /** Where each task holds a pidfd of the driver already (--unshare pid). */
  driverPidfd?: number;
  log: (m: string) => void;
}

/** Everything of one task, up to its threads waiting at rt_sigreturn's exit and no bootstrap left. */
function restoreTask(plan: RestorePlan, task: LiveTask, deps: TaskDeps): bigint {
  const p = task.plan;
  const leader = task.leader;
  const started = performance.now();
  let step = 'map its bootstrap area';
  let image: string | undefined = `mm-${p.pid}.img`;
  try {
    const current = readMaps(leader.pid);
    const vdso = planVdso(p.pid, p.mm!.vmas ?? [], current);
    const xstateSize = leader.xstateSize();
    const layout = bootstrapLayout(deps.rarch.blob().bytes.length, plan.pageSize, {
      records: recordsNeeded(plan, p),
      dataBytes: dataNeeded(plan, p),
      frames: p.threads.length,
      frameSize: deps.rarch.sigframeSize(xstateSize),
      frameAlign: deps.rarch.frameAlign,
      parkBytes: Number(vdso.parkBytes),
    });
    const taken = [...(p.mm!.vmas ?? []).map((v) => ({ start: v.start, end: v.end })), ...current.map((m) => ({ start: m.start, end: m.end }))];
    const taskSize = leader.arch.taskSize();
    const rseq = rseqOf(leader.tid);
    const boot = Bootstrap.map(leader, { blob: deps.rarch.blob(), layout, taken, ceiling: taskSize });
    leader.setSigmask(BLOCK_BUT_TRAP);

    step = 'restore its memory';
    const mem = restoreMemory({ plan, task: p, leader, boot, vdso, taskSize, shmemOwners: deps.shmemOwners, sameExe: sameExe(plan, p.pid, leader.pid), rseq }, deps.log);
    const memMs = performance.now() - started;

    step = 'install its files';
    image = `fdinfo-${p.ids!.files_id}.img`;
    installFiles(plan, p, deps.files, leader, boot, deps.epollsDone, {
      fds: !sharesWithParent(plan, p, 'files'),
      fs: !sharesWithParent(plan, p, 'fs'),
      ...(deps.driverPidfd === undefined ? {} : { driverPidfd: deps.driverPidfd }),
    });

    step = 'create its threads';
    image = 'pstree.img';
    createThreads(task, boot, deps.registry);

    step = 'restore its signal actions, timers and limits';
    image = p.threads[0]!.image;
    const { batch, deferred } = taskStateBatch(p, boot, leader.arch.nr);
    const results = runBatch(leader, boot, batch);
    batch.records.forEach((r, i) => {
      if (!r.stop && results[i]! < 0n && results[i]! >= -4095n) deps.log(`task ${p.pid}: ${r.what} failed (errno ${-results[i]!}), going on`);
    });

    step = 'restore its POSIX timers';
    restorePosixTimers(leader, boot, p, deps.log);

    const seccomp = seccompSteps(plan, p);
    if (seccomp.some((s) => s !== null)) suspendSeccomp(task.threads);

    // Threads last-created first, the leader last: it unmaps the bootstrap for them all.
    for (let i = task.threads.length - 1; i >= 0; i--) {
      const t = task.threads[i]!;
      const tp = p.threads[i]!;
      step = `restore thread ${tp.tid}`;
      image = tp.image;
      t.setSigmask(BLOCK_BUT_TRAP);
      const creds = tp.core.thread_core?.creds;
      const tb = threadStateBatch(p, i, boot, leader.arch.nr, {
        clearTid: deps.rarch.clearTidAddress(tp.core),
        seccomp: seccomp[i] ?? null,
        ...(creds !== undefined && credsDiffer(creds, p.pid, tp.tid) ? { creds } : {}),
      });
      runBatch(t, boot, tb);
      const sas = tp.core.thread_core?.sas;
      enterThread(t, boot, deps.rarch, {
        regs: deps.rarch.threadRegs(tp.core),
        xstate: deps.rarch.threadXstate(tp.core, t.getXstate()),
        sigmask: threadSigmask(p, i),
        ...(sas === undefined ? {} : { altstack: { sp: sas.ss_sp, flags: sas.ss_flags, size: sas.ss_size } }),
        slot: i,
      });
    }
    if (seccomp.some((s) => s !== null)) verifySeccomp(p, task.threads, seccomp);
    step = 'unmap its bootstrap area';
    image = undefined;
    dropBootstrap(leader, boot, deferred);
    writeProcFile(leader.pid, 'oom_score_adj', p.threads[0]!.core.tc?.oom_score_adj);
    deps.log(`task ${p.pid}: ${p.mm!.vmas?.length ?? 0} areas, ${mem.pages} bytes of pages (${memMs.toFixed(1)} ms), ${p.fds!.length} fds, ${task.threads.length} thread(s), ready in ${(performance.now() - started).toFixed(1)} ms`);
    return mem.pages / BigInt(plan.pageSize);
  } catch (err) {
    throw stepFailed(err, image === undefined ? { pid: p.pid, step } : { pid: p.pid, step, image });
  }
}

/** Records of the largest batch of a task (memory, fds, or state), generously. */
function recordsNeeded(plan: RestorePlan, p: RestorePlan['tasks'][number]): number {
  const vmas = p.mm!.vmas?.length ?? 0;
  const runs = p.pages!.runs.length;
  const memory = 16 + vmas * (4 + 20) + runs * 2;
  const epollTargets = p.fds!.reduce((n, fd) => n + (plan.files.get(fd.id)?.epfd?.tfd?.length ?? 0), 0);
  const fds = 16 + p.fds!.length * 3 + epollTargets;
  const signals = p.threads.reduce((n, t) => n + (t.core.tc?.signals_s?.signals?.length ?? 0) + (t.core.thread_core?.signals_p?.signals?.length ?? 0), 0);
  const timers = 2 + 2 * posixTimersOf(p).length;
  return Math.max(memory, fds, 128 + signals + plan.seccompFilters.length, timers);
}

/** Bytes of data of the largest batch: paths, sigactions, limits, siginfos, auxv. */
function dataNeeded(plan: RestorePlan, p: RestorePlan['tasks'][number]): number {
  let paths = 0;
  for (const f of plan.files.values()) if (f.reg !== undefined) paths += Buffer.byteLength(f.reg.name) + 16;
  paths += 4 * (Buffer.byteLength(p.pages!.file) + 16);
  for (const s of plan.shmem.values()) paths += Buffer.byteLength(s.file) + 64;
  const signals = p.threads.reduce((n, t) => n + (t.core.tc?.signals_s?.signals?.length ?? 0) + (t.core.thread_core?.signals_p?.signals?.length ?? 0), 0);
  return 16384 + paths + signals * 136 + (p.mm!.vmas?.length ?? 0) * 96 + posixTimersOf(p).length * 104 + seccompDataBytes(plan);
}

/** `PTRACE_GET_RSEQ_CONFIGURATION` of a new task: the registration it inherited, if any. */
function rseqOf(pid: number): RseqConfiguration | undefined {
  try {
    return ptraceGetRseqConfiguration(pid);
  } catch (err) {
    if (isSysError(err, 'EIO') || isSysError(err, 'EINVAL')) return undefined;
    throw err;
  }
}

/** Is the image's executable the file task `pid` (`hostPid` here) runs now (then PR_SET_MM_MAP keeps it)? */
function sameExe(plan: RestorePlan, pid: number, hostPid: number): boolean {
  const reg = plan.files.get(plan.byPid.get(pid)!.mm!.exe_file_id)!.reg!;
  try {
    const now = statSync(`/proc/${hostPid}/exe`);
    const then = statSync(reg.name);
    return now.dev === then.dev && now.ino === then.ino;
  } catch {
    return false;
  }
}

function writeProcFile(pid: number, name: string, value: number | undefined): void {
  if (value === undefined) return;
  try {
    writeFileSync(`/proc/${pid}/${name}`, String(value));
  } catch {
    // best effort: the value is the kernel's default in the usual case
  }
}

/** Lets every task go (`PTRACE_DETACH` from its stop); a task dumped stopped gets SIGSTOP. */
function release(live: Map<number, LiveTask>): void {
  for (const task of live.values()) {
    if (task.plan.zombie) continue;
    for (const t of task.threads) t.detach(0);
    if (task.plan.state === TASK_STATE.STOPPED) kill(task.leader.pid, SIG.STOP);
  }
}

/**
 * `criu-ts dump`: freezes the tree rooted at a task, writes its state as CRIU images, and then
 * kills it (CRIU's default), leaves it running, or leaves it stopped.
 *
 * Nothing is lost on failure: every step that changes a task (infection) is undone on every
 * path, the images are staged and land only when the whole dump succeeded (inventory last), and
 * the tree is let go as it was.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { coreImageArch } from '../../arch/core_image.js';
import { hostArchOps } from '../../arch/index.js';
import { CriuTsError } from '../errors.js';
import type { FdinfoEntry, PstreeEntry, StatsEntry } from '../images/generated/types.js';
import { ImageDirWriter } from '../images/image_dir.js';
import { imageFileName } from '../images/image_files.js';
import { buildImage, writeEntries, writePagemap, writeSingle } from '../images/typed.js';
import { Parasite } from '../infect/index.js';
import { readPosixTimers, readStat, readStatus, readTaskLink } from '../proc/index.js';
import { freezeTree, type FrozenProcess, type FrozenTree } from '../ptrace/index.js';
import { SIG, close, hostArch, kill } from '../sys/index.js';
import { buildCore, zombieCore, TASK_STATE, type TaskFacts, type ThreadFacts } from './core.js';
import { dumpFds, finishFds, newFdDumpContext, type FdDumpContext } from './files/fds.js';
import { addDirectory, addMappedFile } from './files/reg.js';
import { FileTable } from './files/table.js';
import { KobjIds } from './ids.js';
import { buildMm } from './mm.js';
import { planPages } from './pages.js';
import { readThread, sharedPending } from './thread.js';
import { SECCOMP_MODE, SeccompFilters } from './seccomp.js';
import { dumpShmem, type ShmemDumpState } from './shmem.js';
import { readLoginuid, readOomScoreAdj, readRlimits } from './task_state.js';
import { assignFileIds, collectVmas } from './vmas.js';
import { timensEntry } from './timens.js';
import { TcpConnections } from './tcp_connections.js';

/** inventory.img network_lock_method, CRIU's enum: 0 iptables, 1 nftables, 2 skip. criu-ts locks with nftables. */
const NETWORK_LOCK_NFTABLES = 1;

export type AfterDump = 'kill' | 'leave-running' | 'leave-stopped';

export interface DumpOptions {
  imagesDir: string;
  /** What happens to the tree after a successful dump (CRIU's default: kill). */
  after?: AfterDump;
  log?: (message: string) => void;
  /** Checked between steps: a dump asked to stop (SIGINT) is abandoned cleanly. */
  interrupted?: () => boolean;
  /** `--shell-job`: the tree may hold the terminal of the shell it was started from. */
  shellJob?: boolean;
  /** `--ext-unix-sk`: a Unix datagram socket may keep a named peer outside the tree. */
  extUnixSk?: boolean;
  /** How long the tree may take to freeze (CRIU's --timeout), in ms. */
  freezeTimeoutMs?: number;
  /** Called before each task is dumped (tools and tests: e.g. to kill a task mid-dump). */
  beforeTask?: (pid: number) => void;
  /** `--tcp-established`: connected TCP sockets are dumped in repair mode under the network lock. */
  tcpEstablished?: boolean;
  /** `--tcp-close`: connected TCP sockets are recorded without their stream, to be restored closed. */
  tcpClose?: boolean;
  /** `--skip-in-flight`: connections a listener has not accepted yet are let go. */
  skipInFlight?: boolean;
}

export interface DumpResult {
  pids: number[];
  stats: {
    freezingMs: number;
    frozenMs: number;
    memdumpMs: number;
    pagesScanned: number;
    pagesWritten: number;
    bytesWritten: number;
    /** TCP connections dumped in repair mode (`--tcp-established`). */
    tcpConnections: number;
    /** nft runs and the changes they made for the network lock (taking and, unless handed over, dropping it). */
    nftTransactions: number;
    nftChanges: number;
  };
  /** This dump's run id (inventory.img); the network lock left for restore is named after it. */
  runId: string;
}

/** False once `pid` has exited (a zombie, or gone from /proc). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** A dump that failed; the tree was let go as it was and no images landed. */
export class DumpError extends CriuTsError {
  readonly pid: number | undefined;

  constructor(code: string, message: string, opts: { pid?: number; cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.pid = opts.pid;
  }
}

interface DumpState {
  writer: ImageDirWriter;
  ids: KobjIds;
  files: FileTable;
  fds: FdDumpContext;
  pstree: PstreeEntry[];
  fdinfoWritten: Set<number>;
  nextPagesId: number;
  shmem: ShmemDumpState;
  seccomp: SeccompFilters;
  stats: DumpResult['stats'];
  runId: string;
  tcpClose: boolean;
}

/** Lets signal handlers run (the dump is synchronous between these points). */
const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Dumps the tree rooted at `rootPid` into `opts.imagesDir`. Between steps it yields to the event
 * loop, so that a SIGINT handler can set `opts.interrupted` and the dump stops cleanly.
 */
export async function dumpTree(rootPid: number, opts: DumpOptions): Promise<DumpResult> {
  const log = opts.log ?? (() => {});
  const checkInterrupt = async () => {
    await yieldToEvents();
    if (opts.interrupted?.()) throw new DumpError('DUMP_INTERRUPTED', `dump of task ${rootPid} interrupted: the tree runs on as before`, { pid: rootPid });
  };
  const runId = randomUUID();
  const writer = ImageDirWriter.create(opts.imagesDir);
  const started = performance.now();
  let tree: FrozenTree;
  let tcp: TcpConnections | undefined;
  try {
    // The network lock is taken before anything is frozen: without nftables, nothing is touched.
    if (opts.tcpEstablished && !opts.tcpClose) tcp = TcpConnections.open(runId);
    // Seccomp suspended, so that the parasite's system calls are never filtered (CRIU does the same).
    tree = freezeTree(rootPid, { suspendSeccomp: true, ...(opts.freezeTimeoutMs === undefined ? {} : { timeoutMs: opts.freezeTimeoutMs }) });
  } catch (err) {
    tcp?.resume();
    writer.abort();
    throw err;
  }
  const frozenAt = performance.now();
  log(`froze ${tree.processes.length} task(s) in ${(frozenAt - started).toFixed(1)} ms`);
  if (tcp !== undefined) {
    try {
      const n = tcp.lockTree(tree.processes.map((p) => p.pid));
      log(`network lock ${tcp.table}: ${n} TCP connection(s) locked in one nft transaction`);
    } catch (err) {
      tcp.resume();
      tree.thaw();
      writer.abort();
      throw err;
    }
  }
  const files = new FileTable();
  const shmem: ShmemDumpState = { done: new Set(), nextPagesId: () => state.nextPagesId++, pagesWritten: 0 };
  const state: DumpState = {
    writer,
    ids: new KobjIds(),
    files,
    fds: newFdDumpContext(files, {
      shellJob: opts.shellJob ?? false,
      extUnixSk: opts.extUnixSk ?? false,
      writer,
      shmem,
      ...(opts.tcpClose ? { tcp: 'close' as const } : tcp === undefined ? {} : { tcp }),
      skipInFlight: opts.skipInFlight ?? false,
    }),
    pstree: [],
    fdinfoWritten: new Set(),
    nextPagesId: 1,
    shmem,
    seccomp: new SeccompFilters(),
    stats: { freezingMs: frozenAt - started, frozenMs: 0, memdumpMs: 0, pagesScanned: 0, pagesWritten: 0, bytesWritten: 0, tcpConnections: 0, nftTransactions: 0, nftChanges: 0 },
    runId,
    tcpClose: opts.tcpClose ?? false,
  };
  try {
    for (const proc of tree.processes) {
      await checkInterrupt();
      opts.beforeTask?.(proc.pid);
      dumpProcess(tree, proc, rootPid, state, log);
    }
    await checkInterrupt();
    finishFds(state.fds);
    state.stats.tcpConnections = tcp?.count ?? 0;
    writeTreeImages(state, rootPid);
    state.stats.frozenMs = performance.now() - frozenAt;
    writeStats(state);
    writer.commit();
  } catch (err) {
    writer.abort();
    // Connections leave repair mode before the tree runs again, and the lock goes.
    tcp?.resume();
    tree.thaw();
    if (err instanceof CriuTsError) throw err;
    // Whatever failed (often a /proc file gone), a task that exited under us is the cause to name.
    const died = tree.processes.find((p) => p.state !== 'zombie' && !isRunning(p.pid));
    if (died !== undefined) {
      throw new DumpError('TASK_DIED', `task ${died.pid} exited during the dump of ${rootPid} (${(err as Error).message}); the rest of the tree runs on`, { pid: died.pid, cause: err });
    }
    throw new DumpError('DUMP_FAILED', `dump of task ${rootPid} failed: ${(err as Error).message}`, { cause: err });
  }
  const pids = tree.processes.map((p) => p.pid);
  finish(tree, opts.after ?? 'kill', tcp);
  if (tcp !== undefined) {
    state.stats.nftTransactions = tcp.lockStats.transactions;
    state.stats.nftChanges = tcp.lockStats.changes;
  }
  if (tcp !== undefined && tcp.count > 0 && (opts.after ?? 'kill') === 'kill') {
    log(`${tcp.count} TCP connection(s) stay locked (nftables table inet ${tcp.table}) until they are restored`);
  }
  log(`dumped ${pids.length} task(s), ${state.stats.pagesWritten} pages, frozen ${state.stats.frozenMs.toFixed(1)} ms`);
  return { pids, stats: state.stats, runId };
}

/**
 * Lets the tree go. Killed, its connections are closed while still in repair mode (nothing reaches
 * the peers) and stay locked for the restore; left running or stopped, they leave repair mode and
 * the lock is released before the tasks are thawed.
 */
function finish(tree: FrozenTree, after: AfterDump, tcp: TcpConnections | undefined): void {
  if (after !== 'kill') tcp?.resume();
  if (after === 'kill') {
    for (const p of tree.processes) {
      try {
        kill(p.pid, SIG.KILL);
      } catch {
        // already gone
      }
    }
  }
  if (after === 'leave-stopped') {
    for (const p of tree.processes) kill(p.pid, SIG.STOP);
  }
  tree.thaw();
  if (after === 'kill') tcp?.handOver();
}

function dumpProcess(tree: FrozenTree, proc: FrozenProcess, rootPid: number, state: DumpState, log: (m: string) => void): void {
  const pid = proc.pid;
  const arch = hostArchOps();
  const coreArch = coreImageArch(hostArch());
  const stat = readStat(pid);
  state.pstree.push({
    pid,
    ppid: pid === rootPid ? 0 : proc.ppid,
    pgid: stat.pgid,
    sid: stat.sid,
    threads: proc.state === 'zombie' ? [pid] : proc.threads.map((t) => t.tid),
  });
  if (proc.state === 'zombie') {
    if (pid === rootPid) throw new DumpError('DUMP_UNSUPPORTED', `task ${pid} is a zombie: a tree cannot be dumped from a zombie`, { pid });
    // A zombie is only its exit status: a core with the task part alone, as CRIU writes it.
    writeSingle(state.writer, 'core', pid, zombieCore(coreArch.mtype, stat));
    log(`task ${pid}: zombie, exit code ${stat.exitCode}`);
    return;
  }
  const ids = state.ids.idsOf(pid);

  // Memory areas and the files behind them (exe first, as CRIU numbers them).
  const exeId = addMappedFile(state.files, { path: readTaskLink(pid, 'exe'), stat: statSync(`/proc/${pid}/exe`, { bigint: true }), openPath: `/proc/${pid}/exe` });
  const vmas = collectVmas(pid);
  assignFileIds(vmas, (f) => {
    const v = vmas.vmas[f.vmaIndex]!;
    const openPath = `/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
    return addMappedFile(state.files, { path: f.path, stat: f.stat, openPath });
  });
  const plan = planPages(pid, vmas.vmas);
  for (const { shmid, pagemap } of dumpShmem(pid, vmas.vmas, state.writer, state.shmem)) {
    writePagemap(state.writer, shmid, pagemap, 'shmemPagemap');
  }

  // Per-thread state, read before the parasite runs (registers as the task left them).
  const threads = proc.threads.map((t) => readThread(pid, t.tracee!, arch, coreArch));
  for (const t of threads) {
    t.seccompMode = readStatus(pid, t.tid).seccomp;
    if (t.seccompMode === SECCOMP_MODE.FILTER) t.seccompFilter = state.seccomp.collect(t.tid);
  }

  // What only the task itself can tell, and its memory.
  const leader = tree.tracee(pid)!;
  const pagesId = state.nextPagesId++;
  const timers = readPosixTimers(pid);
  const shared = sharedPending(pid); // while the leader is stopped: ptrace needs it so
  const memStart = performance.now();
  const parasite = Parasite.infect(leader);
  let taskFacts: TaskFacts;
  try {
    const sigactions = parasite.sigactions();
    const { misc, timers: timerValues } = parasite.misc(timers.map((t) => t.id));
    threads[0]!.misc = misc;
    for (let i = 1; i < threads.length; i++) threads[i]!.misc = parasite.threadMisc(tree.tracee(threads[i]!.tid)!);
    const fd = state.writer.openRaw(imageFileName('pages', pagesId));
    try {
      const moved = parasite.memory(plan.ranges, { outFd: fd });
      if (moved.failed) {
        throw new DumpError('DUMP_MEMORY', `task ${pid}: cannot read memory at 0x${moved.failed.address.toString(16)} (${moved.failed.code})`, { pid });
      }
      state.stats.bytesWritten += moved.bytes;
    } finally {
      close(fd);
    }
    taskFacts = {
      state: proc.state === 'stopped' ? TASK_STATE.STOPPED : TASK_STATE.ALIVE,
      exitCode: 0,
      statFlags: stat.flags,
      sigactions,
      posixTimers: timers.map((t, i) => ({ proc: t, value: timerValues[i]! })),
      rlimits: readRlimits(pid),
      loginuid: readLoginuid(pid),
      oomScoreAdj: readOomScoreAdj(pid),
      sharedPending: shared,
    };
    for (const t of threads) {
      t.creds.secbits = t.misc.securebits ?? 0;
      t.registers.clearTidAddress = t.misc.tidAddress ?? 0n;
    }
  } finally {
    parasite.cure();
  }
  state.stats.memdumpMs += performance.now() - memStart;
  state.stats.pagesScanned += plan.scanned;
  state.stats.pagesWritten += plan.pages;
  log(`task ${pid}: ${vmas.vmas.length} areas, ${plan.pages} pages, ${threads.length} thread(s)`);

  // A table shared with a task dumped before (CLONE_FILES) is dumped once, as CRIU does.
  const tableDumped = state.fdinfoWritten.has(ids.files_id);
  const fdinfo: FdinfoEntry[] = tableDumped ? [] : dumpFds(pid, state.fds);
  const cwd = addDirectory(state.files, { path: readTaskLink(pid, 'cwd'), stat: statSync(`/proc/${pid}/cwd`, { bigint: true }), openPath: `/proc/${pid}/cwd` });
  const root = addDirectory(state.files, { path: readTaskLink(pid, 'root'), stat: statSync(`/proc/${pid}/root`, { bigint: true }), openPath: `/proc/${pid}/root` });

  const w = state.writer;
  threads.forEach((t, i) => writeSingle(w, 'core', t.tid, buildCore(coreArch, t, i === 0 ? taskFacts : undefined)));
  writeSingle(w, 'ids', pid, ids);
  writeSingle(w, 'mm', pid, buildMm(pid, {
    stat,
    vmas: vmas.vmas,
    exeFileId: exeId,
    dumpable: threads[0]!.misc.dumpable,
    thpDisabled: (threads[0]!.misc.thpDisable ?? 0) !== 0,
  }));
  writePagemap(w, pid, { head: { pages_id: pagesId }, entries: plan.entries });
  writeSingle(w, 'fs', pid, { cwd_id: cwd, root_id: root, umask: threads[0]!.misc.umask ?? 0o22 });
  if (!tableDumped) {
    state.fdinfoWritten.add(ids.files_id);
    writeEntries(w, 'fdinfo', ids.files_id, fdinfo);
  }
}

function writeTreeImages(state: DumpState, rootPid: number): void {
  const w = state.writer;
  writeEntries(w, 'pstree', undefined, state.pstree);
  writeEntries(w, 'files', undefined, [...state.files.entries]);
  if (state.fds.pipeData.length > 0) {
    writeEntries(w, 'pipesData', undefined, state.fds.pipeData.map((p) => ({ entry: p.entry, extra: p.data })));
  }
  for (const [key, entries] of state.fds.extra) writeEntries(w, key, undefined, entries as never);
  writeSingle(w, 'seccomp', undefined, state.seccomp.entry());
  writeSingle(w, 'timens', 0, timensEntry(rootPid));
  writeSingle(w, 'inventory', undefined, {
    img_version: 2,
    fdinfo_per_id: true,
    root_ids: state.ids.dumper,
    ns_per_id: true,
    root_cg_set: 1,
    lsmtype: 0, // NO_LSM
    ...(state.tcpClose ? { tcp_close: true } : {}),
    network_lock_method: NETWORK_LOCK_NFTABLES,
    plugins_entry: {},
    dump_criu_run_id: state.runId,
  });
}

function writeStats(state: DumpState): void {
  const s = state.stats;
  const stats: StatsEntry = {
    dump: {
      freezing_time: Math.round(s.freezingMs * 1000),
      frozen_time: Math.round(s.frozenMs * 1000),
      memdump_time: Math.round(s.memdumpMs * 1000),
      memwrite_time: 0,
      pages_scanned: BigInt(s.pagesScanned),
      pages_skipped_parent: 0n,
      pages_written: BigInt(s.pagesWritten),
      irmap_resolve: 0,
      pages_lazy: 0n,
      page_pipes: 0n,
      page_pipe_bufs: 0n,
      shpages_scanned: 0n,
      shpages_skipped_parent: 0n,
      shpages_written: BigInt(state.shmem.pagesWritten),
    },
  };
  state.writer.writeKind('stats', 'dump', buildImage('stats', [stats], 'dump'));
}

export type { ThreadFacts };

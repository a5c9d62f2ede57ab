/**
 * `--unshare pid`: the tree restored into a PID namespace of its own, where each task has its
 * image's PID whatever runs on the machine (CRIU has no such option: its criu-ns wrapper runs
 * criu restore in a new PID and mount namespace; this does the same from inside the restore).
 *
 *  1. The seed opens a pidfd of the driver (`pidfd_open`), so that every task, cloned from it
 *     with a copy of its fd table, holds one: inside the namespace the driver has no PID to open,
 *     and the tasks take their files from the driver through it (src/restore/files/install.ts).
 *  2. The seed clones the namespace's init: `clone3({CLONE_NEWPID | CLONE_NEWNS})`. PID 1 there.
 *  3. The init makes every mount a slave of the machine's (mount events go in, none come out)
 *     and mounts a fresh proc on /proc: tasks that read /proc see their namespace, as they did.
 *  4. The init clones the root with `set_tid` = [its PID]: one level, the namespace's; on the
 *     machine the kernel gives each task some other PID, which the driver uses for ptrace and
 *     /proc (PTRACE_EVENT_FORK tells it).
 *  5. Once the tree runs, the init runs the restorer's reap entry for good: it reaps every orphan
 *     of the namespace, and when none is left it exits with the root's exit code (or 128 + the
 *     signal that killed it), which an attached `criu-ts restore` passes on.
 *
 * Killing the init (a failed restore) kills every task of the namespace with it.
 */
import type { RestorerBlob } from '../../arch/x86_64/restorer.js';
import { Tracee } from '../ptrace/index.js';
import { withRemote, type RemoteSyscalls } from '../remote/index.js';
import { CLONE, CLONE_ARGS, CLONE_ARGS_SIZE, encodeCloneArgs, errnoName, PROT, SIG } from '../sys/index.js';
import { RestoreError } from './errors.js';
import type { TaskRegistry } from './registry.js';
import { awaitBirth } from './tree.js';

/** mount(2) flags. */
const MS = { NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, REC: 0x4000, SLAVE: 1 << 19 } as const;

/** The namespace made for a restore. */
export interface PidNamespace {
  /** Its init, stopped (PID 1 inside; `init.pid` is its PID on the machine). */
  init: Tracee;
  /** The fd number at which every task of the tree holds a pidfd of the driver. */
  driverPidfd: number;
}

const cstring = (s: string) => new TextEncoder().encode(`${s}\0`);

function failed(what: string, code: string, cause?: unknown): RestoreError {
  return new RestoreError('RESTORE_FAILED', `Cannot make the PID namespace of the restore: ${what} failed: ${code}`, { step: 'make a PID namespace', ...(cause === undefined ? {} : { cause }) });
}

/** Steps 1-3: the driver's pidfd in the seed, the init cloned, its mounts and /proc. */
export function startPidNamespace(seed: Tracee, registry: TaskRegistry, opts?: { timeoutMs?: number; log?: (m: string) => void }): PidNamespace {
  const got = withRemote(seed, (r) => {
    const pidfd = r.call('pidfd_open', process.pid, 0);
    if (!pidfd.ok) throw failed(`pidfd_open(${process.pid}) in the seed`, pidfd.code);
    const page = BigInt(seed.arch.pageSize());
    const scratch = r.mmap(page);
    try {
      seed.writeMemory(scratch, encodeCloneArgs({ flags: CLONE.NEWPID | CLONE.NEWNS, exitSignal: SIG.CHLD }, { setTidAddr: scratch + BigInt(CLONE_ARGS.size) }));
      return { pidfd: Number(pidfd.value), res: r.call('clone3', scratch, CLONE_ARGS_SIZE.VER2), born: [...r.newTasks] };
    } finally {
      r.munmap(scratch, page);
    }
  });
  if (!got.res.ok) throw failed('clone3(CLONE_NEWPID | CLONE_NEWNS) in the seed', errnoName(got.res.errno));
  const hostPid = got.born[0];
  if (hostPid === undefined || Number(got.res.value) !== hostPid) throw failed('clone3 in the seed', `made ${got.res.value}, attached ${got.born.join(', ') || 'none'}`);
  const init = Tracee.adopt(hostPid, { pid: hostPid });
  registry.addProcess(init);
  awaitBirth(init, opts?.timeoutMs);
  withRemote(init, (r) => {
    mount(r, init, { source: '', target: '/', type: '', flags: MS.REC | MS.SLAVE });
    mount(r, init, { source: 'proc', target: '/proc', type: 'proc', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC });
  });
  opts?.log?.(`PID namespace: init ${hostPid} on this machine, the driver's pidfd at fd ${got.pidfd} in every task`);
  return { init, driverPidfd: got.pidfd };
}

/** Remote `mount(source, target, type, flags, NULL)` (an empty source or type is NULL). */
function mount(r: RemoteSyscalls, t: Tracee, m: { source: string; target: string; type: string; flags: number }): void {
  const strings = [m.source, m.target, m.type].map(cstring);
  const bytes = new Uint8Array(strings.reduce((n, s) => n + s.length, 0));
  let at = 0;
  const offsets = strings.map((s) => {
    bytes.set(s, at);
    at += s.length;
    return at - s.length;
  });
  r.withScratch(bytes, (addr) => {
    const ptr = (i: number, s: string) => (s === '' ? 0n : addr + BigInt(offsets[i]!));
    const res = r.call('mount', ptr(0, m.source), ptr(1, m.target), ptr(2, m.type), m.flags, 0);
    if (!res.ok) throw failed(`mount(${m.source || 'NULL'}, ${m.target}, ${m.type || 'NULL'}, 0x${m.flags.toString(16)}) in the init ${t.pid}`, res.code);
  });
}

/**
 * Step 5: the restorer blob copied into the init (a page of its own, kept for good), the init
 * pointed at its reap entry with the root's PID (as the namespace numbers it), and let go.
 */
export function startReaping(ns: PidNamespace, blob: RestorerBlob, rootPid: number): void {
  const init = ns.init;
  const ops = init.arch;
  const page = BigInt(ops.pageSize());
  const size = ((BigInt(blob.bytes.length + 8) + page - 1n) / page) * page;
  const area = withRemote(init, (r) => r.mmap(size, { prot: PROT.READ | PROT.WRITE | PROT.EXEC }));
  init.writeMemory(area, blob.bytes);
  const slot = area + BigInt(Math.ceil(blob.bytes.length / 8) * 8);
  const conv = ops.table.syscall;
  const changes: Record<string, bigint> = { [ops.table.ip]: area + BigInt(blob.entries.reap), [conv.args[0]]: BigInt(rootPid), [conv.args[1]]: slot };
  if (conv.origNr !== null) changes[conv.origNr] = -1n;
  init.setRegs(ops.withRegs(init.getRegs(), changes));
  init.detach(0);
}

/**
 * The ids of a task's shared kernel objects (ids-PID.img): its memory, fd table, fs struct and
 * signal handlers (shared between tasks made with CLONE_VM/FILES/FS/SIGHAND, told apart with
 * kcmp) and its namespaces (by their inode). As in CRIU, each kind has its own numbering, the
 * dumper itself is registered first (the inventory's root_ids are its ids), and namespaces are
 * numbered in the order pid, net, ipc, uts, time, mnt, user, cgroup.
 */
import type { TaskKobjIdsEntry } from '../images/generated/types.js';
import { namespaceId } from '../proc/index.js';
import { getpid, syscall } from '../sys/index.js';

const KCMP = { VM: 1, FILES: 2, FS: 3, SIGHAND: 4 } as const;
type SharedKind = keyof typeof KCMP;

const NAMESPACES = [
  ['pid', 'pid_ns_id'],
  ['net', 'net_ns_id'],
  ['ipc', 'ipc_ns_id'],
  ['uts', 'uts_ns_id'],
  ['time', 'time_ns_id'],
  ['mnt', 'mnt_ns_id'],
  ['user', 'user_ns_id'],
  ['cgroup', 'cgroup_ns_id'],
] as const;

export class KobjIds {
  /** One task per id, to kcmp new tasks against, by kind. */
  #shared: Record<SharedKind, Array<{ pid: number; id: number }>> = { VM: [], FILES: [], FS: [], SIGHAND: [] };
  /** Namespace inode → id. Namespaces share one numbering, as in CRIU. */
  #namespaces = new Map<string, number>();
  readonly dumper: TaskKobjIdsEntry;

  constructor() {
    this.dumper = this.idsOf(getpid());
  }

  #sharedId(kind: SharedKind, pid: number): number {
    const known = this.#shared[kind];
    for (const other of known) {
      if (other.pid === pid || syscall('kcmp', other.pid, pid, KCMP[kind], 0, 0) === 0n) return other.id;
    }
    const id = known.length + 1;
    known.push({ pid, id });
    return id;
  }

  #namespaceId(kind: string, pid: number): number | undefined {
    let inode: bigint;
    try {
      inode = namespaceId(pid, kind);
    } catch {
      return undefined; // this kernel has no such namespace
    }
    const key = `${kind}:${inode}`;
    let id = this.#namespaces.get(key);
    if (id === undefined) {
      id = this.#namespaces.size + 1;
      this.#namespaces.set(key, id);
    }
    return id;
  }

  /** The ids of task `pid` (registering what is new). */
  idsOf(pid: number): TaskKobjIdsEntry {
    const entry: TaskKobjIdsEntry = {
      vm_id: this.#sharedId('VM', pid),
      files_id: this.#sharedId('FILES', pid),
      fs_id: this.#sharedId('FS', pid),
      sighand_id: this.#sharedId('SIGHAND', pid),
    };
    for (const [kind, field] of NAMESPACES) {
      const id = this.#namespaceId(kind, pid);
      if (id !== undefined) entry[field] = id;
    }
    return entry;
  }
}

/**
 * How the entries of each image kind are laid out: which message each entry is, whether an
 * entry carries extra raw data after its payload (and how long), and which kinds hold exactly
 * one entry. This is the table CRIU's crit keeps as its "handlers".
 */
import type { MagicName } from './magic.js';

/** Raw data that follows an entry's payload, and how its length is found. */
export type ExtraSpec =
  /** `size(message)` bytes of opaque data (pipe buffers, socket queues, map contents). */
  | { kind: 'blob'; size: (message: Record<string, unknown>) => number }
  /** A TCP socket's receive queue (`inq_len` bytes) then its send queue (`outq_len`). */
  | { kind: 'tcp-queues' }
  /** A SysV shared memory segment: `size` bytes padded to 4. */
  | { kind: 'ipc-shm' }
  /** A SysV semaphore set: `nsems` u16 values padded to 8 bytes. */
  | { kind: 'ipc-sem' }
  /** A SysV message queue: `qnum` × (u32 size, ipc_msg payload, `msize` bytes padded to 8). */
  | { kind: 'ipc-msg' };

export type EntryLayout =
  /** Every entry is `entry`. */
  | { kind: 'plain'; entry: string; extra?: ExtraSpec; single?: boolean }
  /** A pagemap_head, then pagemap_entry records. */
  | { kind: 'pagemap' }
  /** A ghost_file_entry, then either ghost_chunk_entry records each followed by its data, or
   *  (without chunks) the whole file contents to the end of the image. */
  | { kind: 'ghost' };

const uint = (field: string) => (m: Record<string, unknown>) => Number(m[field] ?? 0);

const plain = (entry: string, more: { extra?: ExtraSpec; single?: boolean } = {}): EntryLayout => ({
  kind: 'plain',
  entry,
  ...more,
});
const single = (entry: string): EntryLayout => plain(entry, { single: true });

/** Layout by magic name. A magic missing here is a kind criu-ts cannot decode. */
export const LAYOUTS: Partial<Record<MagicName, EntryLayout>> = {
  INVENTORY: single('inventory_entry'),
  CORE: single('core_entry'),
  IDS: single('task_kobj_ids_entry'),
  CREDS: single('creds_entry'),
  UTSNS: single('utsns_entry'),
  TIMENS: single('timens_entry'),
  PIDNS: plain('pidns_entry'),
  IPC_VAR: single('ipc_var_entry'),
  FS: single('fs_entry'),
  GHOST_FILE: { kind: 'ghost' },
  MM: single('mm_entry'),
  CGROUP: plain('cgroup_entry'),
  TCP_STREAM: plain('tcp_stream_entry', { extra: { kind: 'tcp-queues' }, single: true }),
  STATS: single('stats_entry'),
  PAGEMAP: { kind: 'pagemap' },
  PSTREE: plain('pstree_entry'),
  REG_FILES: plain('reg_file_entry'),
  NS_FILES: plain('ns_file_entry'),
  EVENTFD_FILE: plain('eventfd_file_entry'),
  EVENTPOLL_FILE: plain('eventpoll_file_entry'),
  EVENTPOLL_TFD: plain('eventpoll_tfd_entry'),
  SIGNALFD: plain('signalfd_entry'),
  TIMERFD: plain('timerfd_entry'),
  INOTIFY_FILE: plain('inotify_file_entry'),
  INOTIFY_WD: plain('inotify_wd_entry'),
  FANOTIFY_FILE: plain('fanotify_file_entry'),
  FANOTIFY_MARK: plain('fanotify_mark_entry'),
  VMAS: plain('vma_entry'),
  PIPES: plain('pipe_entry'),
  FIFO: plain('fifo_entry'),
  SIGACT: plain('sa_entry'),
  NETLINK_SK: plain('netlink_sk_entry'),
  REMAP_FPATH: plain('remap_file_path_entry'),
  MNTS: plain('mnt_entry'),
  TTY_FILES: plain('tty_file_entry'),
  TTY_INFO: plain('tty_info_entry'),
  TTY_DATA: plain('tty_data_entry'),
  RLIMIT: plain('rlimit_entry'),
  TUNFILE: plain('tunfile_entry'),
  EXT_FILES: plain('ext_file_entry'),
  IRMAP_CACHE: plain('irmap_cache_entry'),
  FILE_LOCKS: plain('file_lock_entry'),
  FDINFO: plain('fdinfo_entry'),
  UNIXSK: plain('unix_sk_entry'),
  INETSK: plain('inet_sk_entry'),
  PACKETSK: plain('packet_sock_entry'),
  ITIMERS: plain('itimer_entry'),
  POSIX_TIMERS: plain('posix_timer_entry'),
  NETDEV: plain('net_device_entry'),
  PIPES_DATA: plain('pipe_data_entry', { extra: { kind: 'blob', size: uint('bytes') } }),
  FIFO_DATA: plain('pipe_data_entry', { extra: { kind: 'blob', size: uint('bytes') } }),
  SK_QUEUES: plain('sk_packet_entry', { extra: { kind: 'blob', size: uint('length') } }),
  IPCNS_SHM: plain('ipc_shm_entry', { extra: { kind: 'ipc-shm' } }),
  IPCNS_SEM: plain('ipc_sem_entry', { extra: { kind: 'ipc-sem' } }),
  IPCNS_MSG: plain('ipc_msg_entry', { extra: { kind: 'ipc-msg' } }),
  NETNS: single('netns_entry'),
  USERNS: single('userns_entry'),
  SECCOMP: single('seccomp_entry'),
  AUTOFS: plain('autofs_entry'),
  FILES: plain('file_entry'),
  CPUINFO: single('cpuinfo_entry'),
  MEMFD_INODE: plain('memfd_inode_entry'),
  BPFMAP_FILE: plain('bpfmap_file_entry'),
  BPFMAP_DATA: plain('bpfmap_data_entry', {
    extra: { kind: 'blob', size: (m) => Number(m['keys_bytes'] ?? 0) + Number(m['values_bytes'] ?? 0) },
  }),
  APPARMOR: plain('apparmor_entry'),
  // Pending signals (signal-p-PID.img per thread, signal-s-PID.img shared): crit has no handler
  // for these, but dump and restore need them.
  SIGNAL: plain('siginfo_entry'),
  BINFMT_MISC: plain('binfmt_misc_entry'),
};

/**
 * The image files of a dump directory: each kind's file-name template and magic (facts of
 * CRIU's format, from its image-desc.c). `%u`-style fields take a number, `%x` a hex number,
 * `%s` a word.
 */
import type { MagicName } from './magic.js';

export interface ImageFileKind {
  /** printf-style template, e.g. `core-%u.img`. */
  template: string;
  /** The magic of its content; `RAW` for raw data (pages, tarballs, ip dumps). */
  magic: MagicName | 'RAW';
}

export const IMAGE_FILES = {
  inventory: { template: 'inventory.img', magic: 'INVENTORY' },
  fdinfo: { template: 'fdinfo-%u.img', magic: 'FDINFO' },
  pagemap: { template: 'pagemap-%lu.img', magic: 'PAGEMAP' },
  shmemPagemap: { template: 'pagemap-shmem-%lu.img', magic: 'PAGEMAP' },
  regFiles: { template: 'reg-files.img', magic: 'REG_FILES' },
  extFiles: { template: 'ext-files.img', magic: 'EXT_FILES' },
  nsFiles: { template: 'ns-files.img', magic: 'NS_FILES' },
  eventfd: { template: 'eventfd.img', magic: 'EVENTFD_FILE' },
  eventpoll: { template: 'eventpoll.img', magic: 'EVENTPOLL_FILE' },
  eventpollTfd: { template: 'eventpoll-tfd.img', magic: 'EVENTPOLL_TFD' },
  signalfd: { template: 'signalfd.img', magic: 'SIGNALFD' },
  inotify: { template: 'inotify.img', magic: 'INOTIFY_FILE' },
  inotifyWd: { template: 'inotify-wd.img', magic: 'INOTIFY_WD' },
  fanotify: { template: 'fanotify.img', magic: 'FANOTIFY_FILE' },
  fanotifyMark: { template: 'fanotify-mark.img', magic: 'FANOTIFY_MARK' },
  core: { template: 'core-%u.img', magic: 'CORE' },
  ids: { template: 'ids-%u.img', magic: 'IDS' },
  mm: { template: 'mm-%u.img', magic: 'MM' },
  vmas: { template: 'vmas-%u.img', magic: 'VMAS' },
  pipes: { template: 'pipes.img', magic: 'PIPES' },
  pipesData: { template: 'pipes-data.img', magic: 'PIPES_DATA' },
  fifo: { template: 'fifo.img', magic: 'FIFO' },
  fifoData: { template: 'fifo-data.img', magic: 'FIFO_DATA' },
  pstree: { template: 'pstree.img', magic: 'PSTREE' },
  sigacts: { template: 'sigacts-%u.img', magic: 'SIGACT' },
  unixsk: { template: 'unixsk.img', magic: 'UNIXSK' },
  inetsk: { template: 'inetsk.img', magic: 'INETSK' },
  packetsk: { template: 'packetsk.img', magic: 'PACKETSK' },
  netlinksk: { template: 'netlinksk.img', magic: 'NETLINK_SK' },
  skQueues: { template: 'sk-queues.img', magic: 'SK_QUEUES' },
  itimers: { template: 'itimers-%u.img', magic: 'ITIMERS' },
  posixTimers: { template: 'posix-timers-%u.img', magic: 'POSIX_TIMERS' },
  creds: { template: 'creds-%u.img', magic: 'CREDS' },
  utsns: { template: 'utsns-%u.img', magic: 'UTSNS' },
  ipcVar: { template: 'ipcns-var-%u.img', magic: 'IPC_VAR' },
  ipcShm: { template: 'ipcns-shm-%u.img', magic: 'IPCNS_SHM' },
  ipcMsg: { template: 'ipcns-msg-%u.img', magic: 'IPCNS_MSG' },
  ipcSem: { template: 'ipcns-sem-%u.img', magic: 'IPCNS_SEM' },
  fs: { template: 'fs-%u.img', magic: 'FS' },
  remapFpath: { template: 'remap-fpath.img', magic: 'REMAP_FPATH' },
  ghostFile: { template: 'ghost-file-%x.img', magic: 'GHOST_FILE' },
  memfd: { template: 'memfd.img', magic: 'MEMFD_INODE' },
  tcpStream: { template: 'tcp-stream-%x.img', magic: 'TCP_STREAM' },
  mountpoints: { template: 'mountpoints-%u.img', magic: 'MNTS' },
  netdev: { template: 'netdev-%u.img', magic: 'NETDEV' },
  netns: { template: 'netns-%u.img', magic: 'NETNS' },
  ifaddr: { template: 'ifaddr-%u.img', magic: 'RAW' },
  route: { template: 'route-%u.img', magic: 'RAW' },
  route6: { template: 'route6-%u.img', magic: 'RAW' },
  rule: { template: 'rule-%u.img', magic: 'RAW' },
  iptables: { template: 'iptables-%u.img', magic: 'RAW' },
  ip6tables: { template: 'ip6tables-%u.img', magic: 'RAW' },
  nftables: { template: 'nftables-%u.img', magic: 'RAW' },
  tmpfs: { template: 'tmpfs-%u.tar.gz.img', magic: 'RAW' },
  tmpfsDev: { template: 'tmpfs-dev-%u.tar.gz.img', magic: 'RAW' },
  autofs: { template: 'autofs-%u.img', magic: 'AUTOFS' },
  binfmtMisc: { template: 'binfmt-misc.img', magic: 'BINFMT_MISC' },
  tty: { template: 'tty.img', magic: 'TTY_FILES' },
  ttyInfo: { template: 'tty-info.img', magic: 'TTY_INFO' },
  ttyData: { template: 'tty-data.img', magic: 'TTY_DATA' },
  fileLocks: { template: 'filelocks.img', magic: 'FILE_LOCKS' },
  rlimit: { template: 'rlimit-%u.img', magic: 'RLIMIT' },
  pages: { template: 'pages-%u.img', magic: 'RAW' },
  signalShared: { template: 'signal-s-%u.img', magic: 'SIGNAL' },
  signalPrivate: { template: 'signal-p-%u.img', magic: 'SIGNAL' },
  tunfile: { template: 'tunfile.img', magic: 'TUNFILE' },
  cgroup: { template: 'cgroup.img', magic: 'CGROUP' },
  timerfd: { template: 'timerfd.img', magic: 'TIMERFD' },
  cpuinfo: { template: 'cpuinfo.img', magic: 'CPUINFO' },
  seccomp: { template: 'seccomp.img', magic: 'SECCOMP' },
  userns: { template: 'userns-%u.img', magic: 'USERNS' },
  files: { template: 'files.img', magic: 'FILES' },
  timens: { template: 'timens-%u.img', magic: 'TIMENS' },
  pidns: { template: 'pidns-%u.img', magic: 'PIDNS' },
  bpfmapFile: { template: 'bpfmap-file.img', magic: 'BPFMAP_FILE' },
  bpfmapData: { template: 'bpfmap-data.img', magic: 'BPFMAP_DATA' },
  apparmor: { template: 'apparmor.img', magic: 'APPARMOR' },
  stats: { template: 'stats-%s', magic: 'STATS' },
  irmapCache: { template: 'irmap-cache', magic: 'IRMAP_CACHE' },
} as const satisfies Record<string, ImageFileKind>;

export type ImageFileKey = keyof typeof IMAGE_FILES;

/** The file name of an image: `imageFileName('core', 42)` is `core-42.img`. */
export function imageFileName(key: ImageFileKey, arg?: number | bigint | string): string {
  const { template } = IMAGE_FILES[key];
  return template.replace(/%(l?u|l?d|x|s)/, (spec) => {
    if (arg === undefined) throw new Error(`image file ${template} needs an argument`);
    return spec === '%x' ? BigInt(arg).toString(16) : String(arg);
  });
}

const MATCHERS: Array<[RegExp, ImageFileKey]> = Object.entries(IMAGE_FILES).map(([key, { template }]) => {
  const pattern = template
    .replace(/[.]/g, '\\.')
    .replace(/%l?[ud]/, '(-?\\d+)')
    .replace('%x', '([0-9a-f]+)')
    .replace('%s', '([a-z]+)');
  return [new RegExp(`^${pattern}$`), key as ImageFileKey];
});

/** Which kind of image a file name is, by its template; undefined if none matches. */
export function imageFileKind(fileName: string): { key: ImageFileKey; arg?: string } | undefined {
  // Longer, more specific templates first (pagemap-shmem-1 before pagemap-%lu).
  let best: { key: ImageFileKey; arg?: string; length: number } | undefined;
  for (const [re, key] of MATCHERS) {
    const m = re.exec(fileName);
    if (!m) continue;
    const length = IMAGE_FILES[key].template.length;
    if (!best || length > best.length) best = m[1] === undefined ? { key, length } : { key, arg: m[1], length };
  }
  return best && (best.arg === undefined ? { key: best.key } : { key: best.key, arg: best.arg });
}

/**
 * System call numbers, one row per call with a column per architecture: `[x86_64, aarch64]`.
 *
 * x86_64 numbers are from `asm/unistd_64.h`; aarch64 uses the generic table (`asm-generic/unistd.h`).
 * The probe test checks the column of the machine it runs on against `<sys/syscall.h>` and the
 * aarch64 column against the generic header on any machine. Calls that only exist on one
 * architecture (`open`, `pipe`, `fork`, `arch_prctl`, ...) are left out on purpose: the wrappers use
 * the calls both have (`openat`, `pipe2`, ...).
 */

import { CriuTsError } from '../errors.js';

/** The architectures criu-ts knows, named as the kernel and CRIU name them. */
export type Arch = 'x86_64' | 'aarch64';

const TABLE = {
  read: [0, 63],
  write: [1, 64],
  openat: [257, 56],
  close: [3, 57],
  lseek: [8, 62],
  pread64: [17, 67],
  pwrite64: [18, 68],
  readv: [19, 65],
  writev: [20, 66],
  preadv: [295, 69],
  pwritev: [296, 70],
  preadv2: [327, 286],
  pwritev2: [328, 287],
  mmap: [9, 222],
  munmap: [11, 215],
  mprotect: [10, 226],
  mremap: [25, 216],
  madvise: [28, 233],
  mincore: [27, 232],
  pipe2: [293, 59],
  splice: [275, 76],
  vmsplice: [278, 75],
  tee: [276, 77],
  fcntl: [72, 25],
  dup: [32, 23],
  dup3: [292, 24],
  ioctl: [16, 29],
  ftruncate: [77, 46],
  statx: [332, 291],
  getdents64: [217, 61],
  readlinkat: [267, 78],
  socket: [41, 198],
  socketpair: [53, 199],
  bind: [49, 200],
  connect: [42, 203],
  listen: [50, 201],
  accept4: [288, 242],
  sendmsg: [46, 211],
  recvmsg: [47, 212],
  sendto: [44, 206],
  recvfrom: [45, 207],
  setsockopt: [54, 208],
  getsockopt: [55, 209],
  getsockname: [51, 204],
  getpeername: [52, 205],
  shutdown: [48, 210],
  kill: [62, 129],
  tgkill: [234, 131],
  tkill: [200, 130],
  rt_sigqueueinfo: [129, 138],
  rt_tgsigqueueinfo: [297, 240],
  rt_sigaction: [13, 134],
  rt_sigprocmask: [14, 135],
  rt_sigreturn: [15, 139],
  sigaltstack: [131, 132],
  pidfd_open: [434, 434],
  pidfd_getfd: [438, 438],
  pidfd_send_signal: [424, 424],
  clone: [56, 220],
  clone3: [435, 435],
  execve: [59, 221],
  execveat: [322, 281],
  exit: [60, 93],
  exit_group: [231, 94],
  wait4: [61, 260],
  waitid: [247, 95],
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  prctl: [157, 167],
  memfd_create: [319, 279],
  getpid: [39, 172],
  gettid: [186, 178],
  getppid: [110, 173],
  getuid: [102, 174],
  geteuid: [107, 175],
  getgid: [104, 176],
  getegid: [108, 177],
  setsid: [112, 157],
  getsid: [124, 156],
  getpgid: [121, 155],
  setpgid: [109, 154],
  uname: [63, 160],
  kcmp: [312, 272],
  seccomp: [317, 277],
  setns: [308, 268],
  unshare: [272, 97],
  prlimit64: [302, 261],
  userfaultfd: [323, 282],
  set_tid_address: [218, 96],
  set_robust_list: [273, 99],
  get_robust_list: [274, 100],
  rseq: [334, 293],
  sched_getaffinity: [204, 123],
  sched_setaffinity: [203, 122],
  nanosleep: [35, 101],
  clock_gettime: [228, 113],
  clock_nanosleep: [230, 115],
  getrandom: [318, 278],
  personality: [135, 92],
  futex: [202, 98],
  openat2: [437, 437],
  close_range: [436, 436],
  capget: [125, 90],
  capset: [126, 91],
  setresuid: [117, 147],
  setresgid: [119, 149],
  setgroups: [116, 159],
  chroot: [161, 51],
  getitimer: [36, 102],
  setitimer: [38, 103],
  timer_create: [222, 107],
  timer_settime: [223, 110],
  timer_gettime: [224, 108],
  timer_delete: [226, 111],
  timerfd_create: [283, 85],
  timerfd_settime: [286, 86],
  timerfd_gettime: [287, 87],
  eventfd2: [290, 19],
  epoll_create1: [291, 20],
  epoll_ctl: [233, 21],
  signalfd4: [289, 74],
  inotify_init1: [294, 26],
  inotify_add_watch: [254, 27],
  inotify_rm_watch: [255, 28],
  name_to_handle_at: [303, 264],
  open_by_handle_at: [304, 265],
  fanotify_init: [300, 262],
  sched_yield: [24, 124],
  getpriority: [140, 141],
  setpriority: [141, 140],
  sched_setparam: [142, 118],
  sched_getparam: [143, 121],
  sched_setscheduler: [144, 119],
  sched_getscheduler: [145, 120],
  umask: [95, 166],
  chdir: [80, 49],
  fchdir: [81, 50],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
} as const satisfies Record<string, readonly [number, number]>;

/** Every system call name we know a number for. */
export type SyscallName = keyof typeof TABLE;

/** The whole table: `SYSCALL_TABLE.clone3` is `[435, 435]` (`[x86_64, aarch64]`). */
export const SYSCALL_TABLE: Readonly<Record<SyscallName, readonly [x86_64: number, aarch64: number]>> = TABLE;

/** The architecture this process runs on, from `process.arch`; throws on one criu-ts does not support. */
export function hostArch(): Arch {
  switch (process.arch) {
    case 'x64':
      return 'x86_64';
    case 'arm64':
      return 'aarch64';
    default:
      throw new CriuTsError('ERR_UNSUPPORTED_ARCH', `Unsupported architecture ${process.arch}: criu-ts runs on x86_64 and aarch64`);
  }
}

/** The column of {@link SYSCALL_TABLE} for an architecture: name -> number. */
export function syscallNumbers(arch: Arch): Readonly<Record<SyscallName, number>> {
  const column = arch === 'x86_64' ? 0 : 1;
  const out = {} as Record<SyscallName, number>;
  for (const name of Object.keys(TABLE) as SyscallName[]) out[name] = TABLE[name][column];
  return Object.freeze(out);
}

/** System call numbers of the host architecture: `NR.ptrace` is 101 on x86_64, 117 on aarch64. */
export const NR: Readonly<Record<SyscallName, number>> = syscallNumbers(hostArch());

const NAME_BY_NR = new Map<number, SyscallName>(
  (Object.entries(NR) as Array<[SyscallName, number]>).map(([name, nr]) => [nr, name]),
);

/** The name of a host system call number (`39` -> `'getpid'` on x86_64), or `'syscall_<nr>'`. */
export function syscallName(nr: number): string {
  return NAME_BY_NR.get(nr) ?? `syscall_${nr}`;
}

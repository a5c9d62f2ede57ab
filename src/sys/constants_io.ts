/**
 * Constants for files, pipes and sockets: open flags, fcntl, splice, statx, socket options.
 *
 * One frozen object per C prefix (`O.CLOEXEC` is `O_CLOEXEC`). The open flags are the kernel's
 * values (what `/proc/PID/fdinfo` shows); four of them differ between x86_64 and aarch64, so `O`
 * is built for the host. {@link ioConstantEntries} lists every value under its C name for the probe.
 */

import { prefixed } from './constants.js';
import { hostArch, type Arch } from './syscalls.js';

/** The open flags whose values depend on the architecture (`arch/arm64/include/uapi/asm/fcntl.h`). */
const O_BY_ARCH: Readonly<Record<Arch, { DIRECT: number; LARGEFILE: number; DIRECTORY: number; NOFOLLOW: number }>> = {
  x86_64: { DIRECT: 0o40000, LARGEFILE: 0o100000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000 },
  aarch64: { DIRECTORY: 0o40000, NOFOLLOW: 0o100000, DIRECT: 0o200000, LARGEFILE: 0o400000 },
};

/** Open flags of an architecture, as the kernel defines them. */
export function openFlags(arch: Arch) {
  const a = O_BY_ARCH[arch];
  return Object.freeze({
    RDONLY: 0,
    WRONLY: 0o1,
    RDWR: 0o2,
    ACCMODE: 0o3,
    CREAT: 0o100,
    EXCL: 0o200,
    NOCTTY: 0o400,
    TRUNC: 0o1000,
    APPEND: 0o2000,
    NONBLOCK: 0o4000,
    DSYNC: 0o10000,
    ASYNC: 0o20000,
    DIRECT: a.DIRECT,
    LARGEFILE: a.LARGEFILE,
    DIRECTORY: a.DIRECTORY,
    NOFOLLOW: a.NOFOLLOW,
    NOATIME: 0o1000000,
    CLOEXEC: 0o2000000,
    SYNC: 0o4010000,
    PATH: 0o10000000,
    TMPFILE: 0o20000000 | a.DIRECTORY,
  });
}

/** Open flags of the host (`O_*`). */
export const O = openFlags(hostArch());

/** `*at()` flags and the current-directory fd (`AT_*`). */
export const AT = Object.freeze({
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  SYMLINK_FOLLOW: 0x400,
  NO_AUTOMOUNT: 0x800,
  EMPTY_PATH: 0x1000,
  STATX_SYNC_AS_STAT: 0,
});

/** lseek whence values (`SEEK_*`). */
export const SEEK = Object.freeze({ SET: 0, CUR: 1, END: 2, DATA: 3, HOLE: 4 });

/** fcntl commands (`F_*`). */
export const F = Object.freeze({
  DUPFD: 0,
  GETFD: 1,
  SETFD: 2,
  GETFL: 3,
  SETFL: 4,
  GETLK: 5,
  SETLK: 6,
  SETLKW: 7,
  SETOWN: 8,
  GETOWN: 9,
  SETSIG: 10,
  GETSIG: 11,
  SETOWN_EX: 15,
  GETOWN_EX: 16,
  OFD_GETLK: 36,
  OFD_SETLK: 37,
  OFD_SETLKW: 38,
  SETLEASE: 1024,
  GETLEASE: 1025,
  NOTIFY: 1026,
  DUPFD_CLOEXEC: 1030,
  SETPIPE_SZ: 1031,
  GETPIPE_SZ: 1032,
  ADD_SEALS: 1033,
  GET_SEALS: 1034,
});

/** The close-on-exec bit of `F_GETFD`/`F_SETFD`. */
export const FD_CLOEXEC = 1;

/** memfd seals (`F_SEAL_*`). */
export const F_SEAL = Object.freeze({ SEAL: 0x1, SHRINK: 0x2, GROW: 0x4, WRITE: 0x8, FUTURE_WRITE: 0x10 });

/** splice/vmsplice/tee flags (`SPLICE_F_*`). */
export const SPLICE_F = Object.freeze({ MOVE: 0x1, NONBLOCK: 0x2, MORE: 0x4, GIFT: 0x8 });

/** The most iovecs one readv/writev/process_vm_readv call takes (`UIO_MAXIOV`, `IOV_MAX`). */
export const UIO_MAXIOV = 1024;

/** statx request mask bits (`STATX_*`). */
export const STATX = Object.freeze({
  TYPE: 0x1,
  MODE: 0x2,
  NLINK: 0x4,
  UID: 0x8,
  GID: 0x10,
  ATIME: 0x20,
  MTIME: 0x40,
  CTIME: 0x80,
  INO: 0x100,
  SIZE: 0x200,
  BLOCKS: 0x400,
  BASIC_STATS: 0x7ff,
  BTIME: 0x800,
  MNT_ID: 0x1000,
});

/** File type bits of `st_mode` (`S_IF*`). */
export const S_IF = Object.freeze({
  MT: 0o170000,
  SOCK: 0o140000,
  LNK: 0o120000,
  REG: 0o100000,
  BLK: 0o60000,
  DIR: 0o40000,
  CHR: 0o20000,
  IFO: 0o10000,
});

/** Address families (`AF_*`). */
export const AF = Object.freeze({ UNSPEC: 0, UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 });

/** Socket types and the flags or-ed into the type (`SOCK_*`). */
export const SOCK = Object.freeze({
  STREAM: 1,
  DGRAM: 2,
  RAW: 3,
  SEQPACKET: 5,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
});

/** sendmsg/recvmsg flags (`MSG_*`). */
export const MSG = Object.freeze({
  OOB: 0x1,
  PEEK: 0x2,
  DONTROUTE: 0x4,
  CTRUNC: 0x8,
  TRUNC: 0x20,
  DONTWAIT: 0x40,
  EOR: 0x80,
  WAITALL: 0x100,
  NOSIGNAL: 0x4000,
  MORE: 0x8000,
  CMSG_CLOEXEC: 0x40000000,
});

/** Socket option levels (`SOL_*`). */
export const SOL = Object.freeze({ IP: 0, SOCKET: 1, TCP: 6, IPV6: 41, PACKET: 263, NETLINK: 270 });

/** Control message types at `SOL_SOCKET` (`SCM_*`). */
export const SCM = Object.freeze({ RIGHTS: 1, CREDENTIALS: 2 });

/** Socket options at `SOL_SOCKET` (`SO_*`), the same on x86_64 and aarch64. */
export const SO = Object.freeze({
  DEBUG: 1,
  REUSEADDR: 2,
  TYPE: 3,
  ERROR: 4,
  DONTROUTE: 5,
  BROADCAST: 6,
  SNDBUF: 7,
  RCVBUF: 8,
  KEEPALIVE: 9,
  OOBINLINE: 10,
  NO_CHECK: 11,
  PRIORITY: 12,
  LINGER: 13,
  REUSEPORT: 15,
  PASSCRED: 16,
  PEERCRED: 17,
  RCVLOWAT: 18,
  SNDLOWAT: 19,
  BINDTODEVICE: 25,
  ATTACH_FILTER: 26,
  ACCEPTCONN: 30,
  SNDBUFFORCE: 32,
  RCVBUFFORCE: 33,
  MARK: 36,
  PROTOCOL: 38,
  DOMAIN: 39,
  PEEK_OFF: 42,
});

/** IP protocol numbers (`IPPROTO_*`). */
export const IPPROTO = Object.freeze({ IP: 0, TCP: 6, UDP: 17, IPV6: 41, RAW: 255 });

/** TCP socket options, TCP repair mode included (`TCP_*`). */
export const TCP = Object.freeze({
  NODELAY: 1,
  MAXSEG: 2,
  CORK: 3,
  KEEPIDLE: 4,
  KEEPINTVL: 5,
  KEEPCNT: 6,
  REPAIR: 19,
  REPAIR_QUEUE: 20,
  QUEUE_SEQ: 21,
  REPAIR_OPTIONS: 22,
  TIMESTAMP: 24,
  REPAIR_WINDOW: 29,
  /** `TCP_REPAIR_QUEUE` argument: the receive queue. */
  RECV_QUEUE: 1,
  /** `TCP_REPAIR_QUEUE` argument: the send queue. */
  SEND_QUEUE: 2,
});

/** shutdown how (`SHUT_*`). */
export const SHUT = Object.freeze({ RD: 0, WR: 1, RDWR: 2 });

/**
 * Every constant of this file under its C name, for the header probe test. Open flags come from the
 * kernel's headers (glibc says `O_LARGEFILE` is 0 on x86_64), everything else from glibc's.
 */
export function ioConstantEntries(): { kernel: Array<[string, number | bigint]>; libc: Array<[string, number | bigint]> } {
  return {
    kernel: prefixed('O_', O),
    libc: [
      ...prefixed('AT_', AT),
      ...prefixed('SEEK_', SEEK),
      ...prefixed('F_', F),
      ['FD_CLOEXEC', FD_CLOEXEC],
      ...prefixed('F_SEAL_', F_SEAL),
      ...prefixed('SPLICE_F_', SPLICE_F),
      ['UIO_MAXIOV', UIO_MAXIOV],
      ...prefixed('STATX_', STATX),
      ...prefixed('S_IF', S_IF),
      ...prefixed('AF_', AF),
      ...prefixed('SOCK_', SOCK),
      ...prefixed('MSG_', MSG),
      ...prefixed('SOL_', SOL),
      ...prefixed('SCM_', SCM),
      ...prefixed('SO_', SO),
      ...prefixed('IPPROTO_', IPPROTO),
      ...prefixed('TCP_', TCP),
      ...prefixed('SHUT_', SHUT),
    ],
  };
}

/**
 * The C structs the system call wrappers build and read, as explicit layouts (see `layout.ts`).
 * x86_64 and aarch64 are both LP64 and share every layout here. Register layouts belong to `arch/`.
 */

import { addressOf } from './libc.js';
import { allocStruct, asBuffer, defineLayout, getBig, getNum, setField } from './layout.js';

/** `struct iovec` */
export const IOVEC = defineLayout('iovec', 16, {
  iov_base: [0, 'ptr'],
  iov_len: [8, 'u64'],
});

/** `struct msghdr` */
export const MSGHDR = defineLayout('msghdr', 56, {
  msg_name: [0, 'ptr'],
  msg_namelen: [8, 'u32'],
  msg_iov: [16, 'ptr'],
  msg_iovlen: [24, 'u64'],
  msg_control: [32, 'ptr'],
  msg_controllen: [40, 'u64'],
  msg_flags: [48, 'i32'],
});

/** `struct cmsghdr`; its data starts at `CMSG_LEN(0)`, 16 bytes in. */
export const CMSGHDR = defineLayout('cmsghdr', 16, {
  cmsg_len: [0, 'u64'],
  cmsg_level: [8, 'i32'],
  cmsg_type: [12, 'i32'],
});

/** `struct sockaddr_un`; `sun_path` is 108 bytes. */
export const SOCKADDR_UN = defineLayout('sockaddr_un', 110, {
  sun_family: [0, 'u16'],
  sun_path: [2, 'bytes', 108],
});

/** `struct sockaddr_in`; port and address are in network byte order. */
export const SOCKADDR_IN = defineLayout('sockaddr_in', 16, {
  sin_family: [0, 'u16'],
  sin_port: [2, 'bytes', 2],
  sin_addr: [4, 'bytes', 4],
  sin_zero: [8, 'bytes', 8],
});

/** `struct sockaddr_in6`; port, flow info and address are in network byte order. */
export const SOCKADDR_IN6 = defineLayout('sockaddr_in6', 28, {
  sin6_family: [0, 'u16'],
  sin6_port: [2, 'bytes', 2],
  sin6_flowinfo: [4, 'bytes', 4],
  sin6_addr: [8, 'bytes', 16],
  sin6_scope_id: [24, 'u32'],
});

/** `struct sockaddr_storage`: room for any socket address. */
export const SOCKADDR_STORAGE = defineLayout('sockaddr_storage', 128, {
  ss_family: [0, 'u16'],
});

/** `struct ucred` (`SO_PEERCRED`, `SCM_CREDENTIALS`). */
export const UCRED = defineLayout('ucred', 12, {
  pid: [0, 'i32'],
  uid: [4, 'u32'],
  gid: [8, 'u32'],
});

/** `struct clone_args` (version 2, 88 bytes: `set_tid` and `cgroup` included). */
export const CLONE_ARGS = defineLayout('clone_args', 88, {
  flags: [0, 'u64'],
  pidfd: [8, 'u64'],
  child_tid: [16, 'u64'],
  parent_tid: [24, 'u64'],
  exit_signal: [32, 'u64'],
  stack: [40, 'u64'],
  stack_size: [48, 'u64'],
  tls: [56, 'u64'],
  set_tid: [64, 'u64'],
  set_tid_size: [72, 'u64'],
  cgroup: [80, 'u64'],
});

/**
 * `siginfo_t` (128 bytes). After the three leading ints comes a union; the field names are glibc's
 * and several share an offset: `si_pid`/`si_addr`/`si_timerid` at 16, `si_status`/`si_value`/`si_fd`
 * at 24. Which one is meaningful depends on `si_signo` and `si_code`.
 */
export const SIGINFO = defineLayout('siginfo_t', 128, {
  si_signo: [0, 'i32'],
  si_errno: [4, 'i32'],
  si_code: [8, 'i32'],
  si_pid: [16, 'i32'],
  si_uid: [20, 'u32'],
  si_status: [24, 'i32'],
  si_utime: [32, 'i64'],
  si_stime: [40, 'i64'],
  si_value: [24, 'u64'],
  si_addr: [16, 'ptr'],
  si_timerid: [16, 'i32'],
  si_overrun: [20, 'i32'],
  si_band: [16, 'i64'],
  si_fd: [24, 'i32'],
  si_call_addr: [16, 'ptr'],
  si_syscall: [24, 'i32'],
  si_arch: [28, 'u32'],
});

/** `struct ptrace_peeksiginfo_args` */
export const PTRACE_PEEKSIGINFO_ARGS = defineLayout('ptrace_peeksiginfo_args', 16, {
  off: [0, 'u64'],
  flags: [8, 'u32'],
  nr: [12, 'i32'],
});

/** `struct ptrace_rseq_configuration` */
export const PTRACE_RSEQ_CONFIGURATION = defineLayout('ptrace_rseq_configuration', 24, {
  rseq_abi_pointer: [0, 'u64'],
  rseq_abi_size: [8, 'u32'],
  signature: [12, 'u32'],
  flags: [16, 'u32'],
  pad: [20, 'u32'],
});

/** `struct timespec` */
export const TIMESPEC = defineLayout('timespec', 16, {
  tv_sec: [0, 'i64'],
  tv_nsec: [8, 'i64'],
});

/** `struct statx` (256 bytes; the timestamps are `struct statx_timestamp`, 16 bytes each). */
export const STATX_STRUCT = defineLayout('statx', 256, {
  stx_mask: [0, 'u32'],
  stx_blksize: [4, 'u32'],
  stx_attributes: [8, 'u64'],
  stx_nlink: [16, 'u32'],
  stx_uid: [20, 'u32'],
  stx_gid: [24, 'u32'],
  stx_mode: [28, 'u16'],
  stx_ino: [32, 'u64'],
  stx_size: [40, 'u64'],
  stx_blocks: [48, 'u64'],
  stx_attributes_mask: [56, 'u64'],
  stx_atime: [64, 'bytes', 16],
  stx_btime: [80, 'bytes', 16],
  stx_ctime: [96, 'bytes', 16],
  stx_mtime: [112, 'bytes', 16],
  stx_rdev_major: [128, 'u32'],
  stx_rdev_minor: [132, 'u32'],
  stx_dev_major: [136, 'u32'],
  stx_dev_minor: [140, 'u32'],
  stx_mnt_id: [144, 'u64'],
});

/** `struct statx_timestamp` */
export const STATX_TIMESTAMP = defineLayout('statx_timestamp', 16, {
  tv_sec: [0, 'i64'],
  tv_nsec: [8, 'u32'],
});

/** `struct utsname` (six 65-byte strings). */
export const UTSNAME = defineLayout('utsname', 390, {
  sysname: [0, 'bytes', 65],
  nodename: [65, 'bytes', 65],
  release: [130, 'bytes', 65],
  version: [195, 'bytes', 65],
  machine: [260, 'bytes', 65],
  domainname: [325, 'bytes', 65],
});

/** Every layout, for the probe test. */
export const ALL_LAYOUTS = [
  IOVEC,
  MSGHDR,
  CMSGHDR,
  SOCKADDR_UN,
  SOCKADDR_IN,
  SOCKADDR_IN6,
  SOCKADDR_STORAGE,
  UCRED,
  CLONE_ARGS,
  SIGINFO,
  PTRACE_PEEKSIGINFO_ARGS,
  PTRACE_RSEQ_CONFIGURATION,
  TIMESPEC,
  STATX_STRUCT,
  STATX_TIMESTAMP,
  UTSNAME,
] as const;

/** A memory range: an address and a length in bytes (remote ranges, or local memory by address). */
export interface MemRange {
  addr: bigint;
  len: number;
}

/** One iovec entry: local bytes given as a view, or a range given by address. */
export type IoVec = ArrayBufferView | MemRange;

/** The length of one iovec entry in bytes. */
export function iovLength(v: IoVec): number {
  return 'addr' in v && typeof v.addr === 'bigint' ? (v as MemRange).len : (v as ArrayBufferView).byteLength;
}

/**
 * Builds an array of `struct iovec`. Views are referenced by address: keep them alive until the call
 * that uses the array returns.
 */
export function buildIovecs(vecs: readonly IoVec[]): Buffer {
  const buf = allocStruct(IOVEC, vecs.length);
  vecs.forEach((v, i) => {
    const base = i * IOVEC.size;
    if ('addr' in v && typeof v.addr === 'bigint') {
      setField(buf, IOVEC, 'iov_base', v.addr, base);
      setField(buf, IOVEC, 'iov_len', (v as MemRange).len, base);
    } else {
      const view = v as ArrayBufferView;
      setField(buf, IOVEC, 'iov_base', view.byteLength === 0 ? 0n : addressOf(view), base);
      setField(buf, IOVEC, 'iov_len', view.byteLength, base);
    }
  });
  return buf;
}

/** Control message space for `len` data bytes: `CMSG_SPACE(len)` (header and data, 8-byte aligned). */
export function cmsgSpace(len: number): number {
  return CMSGHDR.size + align8(len);
}

/** The `cmsg_len` of a control message with `len` data bytes: `CMSG_LEN(len)`. */
export function cmsgLen(len: number): number {
  return CMSGHDR.size + len;
}

/** Rounds up to a multiple of 8 (`CMSG_ALIGN` on LP64). */
export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A decoded `siginfo_t`: the common fields, the SIGCHLD/kill ones, and the raw 128 bytes. */
export interface Siginfo {
  signo: number;
  errno: number;
  code: number;
  /** `si_pid` (kill, SIGCHLD, sigqueue). */
  pid: number;
  /** `si_uid` (kill, SIGCHLD, sigqueue). */
  uid: number;
  /** `si_status` (SIGCHLD: exit code or signal). */
  status: number;
  /** `si_addr` (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP). */
  addr: bigint;
  /** The whole struct, as the kernel wrote it (what a signal image keeps). */
  raw: Buffer;
}

/** Decodes the `siginfo_t` at `base` in `view`; `raw` is a copy. */
export function decodeSiginfo(view: ArrayBufferView, base = 0): Siginfo {
  const buf = asBuffer(view);
  return {
    signo: getNum(buf, SIGINFO, 'si_signo', base),
    errno: getNum(buf, SIGINFO, 'si_errno', base),
    code: getNum(buf, SIGINFO, 'si_code', base),
    pid: getNum(buf, SIGINFO, 'si_pid', base),
    uid: getNum(buf, SIGINFO, 'si_uid', base),
    status: getNum(buf, SIGINFO, 'si_status', base),
    addr: getBig(buf, SIGINFO, 'si_addr', base),
    raw: Buffer.from(buf.subarray(base, base + SIGINFO.size)),
  };
}

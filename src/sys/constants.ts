/**
 * Constants for tasks: ptrace, wait, signals, clone, prctl, memory mappings, ELF note types.
 *
 * One frozen object per C prefix: `PTRACE.SEIZE` is C's `PTRACE_SEIZE`. Values are the same on
 * x86_64 and aarch64 unless a table says otherwise. {@link taskConstantEntries} lists every value
 * under its C name; the probe test compares that list with the C headers, both ways.
 * File, pipe and socket constants are in `constants_io.ts`.
 */

/** ptrace requests (`PTRACE_*`). Requests that exist on one architecture only belong to `arch/`. */
export const PTRACE = Object.freeze({
  TRACEME: 0,
  PEEKTEXT: 1,
  PEEKDATA: 2,
  PEEKUSER: 3,
  POKETEXT: 4,
  POKEDATA: 5,
  POKEUSER: 6,
  CONT: 7,
  KILL: 8,
  SINGLESTEP: 9,
  ATTACH: 16,
  DETACH: 17,
  SYSCALL: 24,
  SETOPTIONS: 0x4200,
  GETEVENTMSG: 0x4201,
  GETSIGINFO: 0x4202,
  SETSIGINFO: 0x4203,
  GETREGSET: 0x4204,
  SETREGSET: 0x4205,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
  LISTEN: 0x4208,
  PEEKSIGINFO: 0x4209,
  GETSIGMASK: 0x420a,
  SETSIGMASK: 0x420b,
  SECCOMP_GET_FILTER: 0x420c,
  SECCOMP_GET_METADATA: 0x420d,
  GET_SYSCALL_INFO: 0x420e,
  GET_RSEQ_CONFIGURATION: 0x420f,
});

/** ptrace options for `PTRACE_SEIZE`/`PTRACE_SETOPTIONS` (`PTRACE_O_*`). */
export const PTRACE_O = Object.freeze({
  TRACESYSGOOD: 0x1,
  TRACEFORK: 0x2,
  TRACEVFORK: 0x4,
  TRACECLONE: 0x8,
  TRACEEXEC: 0x10,
  TRACEVFORKDONE: 0x20,
  TRACEEXIT: 0x40,
  TRACESECCOMP: 0x80,
  EXITKILL: 0x100000,
  /** Suspend the tracee's seccomp filters while traced (needs CAP_SYS_ADMIN). */
  SUSPEND_SECCOMP: 0x200000,
});

/** ptrace event codes, found in `status >> 16` of a stop (`PTRACE_EVENT_*`). */
export const PTRACE_EVENT = Object.freeze({
  FORK: 1,
  VFORK: 2,
  CLONE: 3,
  EXEC: 4,
  VFORK_DONE: 5,
  EXIT: 6,
  SECCOMP: 7,
  /** A group-stop or a `PTRACE_INTERRUPT` stop of a seized task. */
  STOP: 128,
});

/** `PTRACE_PEEKSIGINFO` flag: read the process-wide (shared) queue instead of the thread's. */
export const PTRACE_PEEKSIGINFO_SHARED = 1;

/** wait4/waitid options: `W*` and the Linux-only `__W*` (`WAIT.ALL` is `__WALL`). */
export const WAIT = Object.freeze({
  NOHANG: 0x1,
  UNTRACED: 0x2,
  STOPPED: 0x2,
  EXITED: 0x4,
  CONTINUED: 0x8,
  NOWAIT: 0x1000000,
  /** `__WNOTHREAD` */
  NOTHREAD: 0x20000000,
  /** `__WALL`: wait for every child, clone children and threads included. */
  ALL: 0x40000000,
  /** `__WCLONE` */
  CLONE: 0x80000000,
});

/** waitid id types (`P_*`). */
export const P = Object.freeze({ ALL: 0, PID: 1, PGID: 2, PIDFD: 3 });

/** `si_code` values of SIGCHLD (`CLD_*`). */
export const CLD = Object.freeze({ EXITED: 1, KILLED: 2, DUMPED: 3, TRAPPED: 4, STOPPED: 5, CONTINUED: 6 });

/** Generic `si_code` values (`SI_*`). */
export const SI = Object.freeze({
  USER: 0,
  KERNEL: 0x80,
  QUEUE: -1,
  TIMER: -2,
  MESGQ: -3,
  ASYNCIO: -4,
  SIGIO: -5,
  TKILL: -6,
});

/** Signal numbers (`SIG*`), the same on x86_64 and aarch64. */
export const SIG = Object.freeze({
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
});

/**
 * The kernel's first real-time signal. glibc's `SIGRTMIN` is 34 because it keeps two for itself,
 * so this one is not compared with the headers.
 */
export const KERNEL_SIGRTMIN = 32;
/** The kernel's number of signals (`_NSIG`): signal numbers run from 1 to 64. */
export const KERNEL_NSIG = 64;

/**
 * clone/clone3 flags (`CLONE_*`). They are bigints because clone3 takes 64-bit flags
 * (`CLEAR_SIGHAND` and `INTO_CGROUP` are above bit 31, where JavaScript's `|` on numbers breaks).
 */
export const CLONE = Object.freeze({
  NEWTIME: 0x80n,
  VM: 0x100n,
  FS: 0x200n,
  FILES: 0x400n,
  SIGHAND: 0x800n,
  PIDFD: 0x1000n,
  PTRACE: 0x2000n,
  VFORK: 0x4000n,
  PARENT: 0x8000n,
  THREAD: 0x10000n,
  NEWNS: 0x20000n,
  SYSVSEM: 0x40000n,
  SETTLS: 0x80000n,
  PARENT_SETTID: 0x100000n,
  CHILD_CLEARTID: 0x200000n,
  DETACHED: 0x400000n,
  UNTRACED: 0x800000n,
  CHILD_SETTID: 0x1000000n,
  NEWCGROUP: 0x2000000n,
  NEWUTS: 0x4000000n,
  NEWIPC: 0x8000000n,
  NEWUSER: 0x10000000n,
  NEWPID: 0x20000000n,
  NEWNET: 0x40000000n,
  IO: 0x80000000n,
  CLEAR_SIGHAND: 0x100000000n,
  INTO_CGROUP: 0x200000000n,
});

/** The exit-signal byte of legacy clone flags. */
export const CSIGNAL = 0xff;

/** Sizes of `struct clone_args` by version (`CLONE_ARGS_SIZE_VER*`); VER1 adds set_tid, VER2 cgroup. */
export const CLONE_ARGS_SIZE = Object.freeze({ VER0: 64, VER1: 80, VER2: 88 });

/** prctl options (`PR_*`). */
export const PR = Object.freeze({
  SET_PDEATHSIG: 1,
  GET_PDEATHSIG: 2,
  GET_DUMPABLE: 3,
  SET_DUMPABLE: 4,
  SET_NAME: 15,
  GET_NAME: 16,
  GET_SECCOMP: 21,
  SET_SECCOMP: 22,
  CAPBSET_READ: 23,
  CAPBSET_DROP: 24,
  GET_SECUREBITS: 27,
  SET_SECUREBITS: 28,
  SET_TIMERSLACK: 29,
  GET_TIMERSLACK: 30,
  SET_MM: 35,
  SET_CHILD_SUBREAPER: 36,
  GET_CHILD_SUBREAPER: 37,
  SET_NO_NEW_PRIVS: 38,
  GET_NO_NEW_PRIVS: 39,
  GET_TID_ADDRESS: 40,
  SET_THP_DISABLE: 41,
  GET_THP_DISABLE: 42,
  CAP_AMBIENT: 47,
  SET_PTRACER: 0x59616d61,
});

/** Second argument of `prctl(PR_SET_MM, ...)` (`PR_SET_MM_*`). */
export const PR_SET_MM = Object.freeze({
  START_CODE: 1,
  END_CODE: 2,
  START_DATA: 3,
  END_DATA: 4,
  START_STACK: 5,
  START_BRK: 6,
  BRK: 7,
  ARG_START: 8,
  ARG_END: 9,
  ENV_START: 10,
  ENV_END: 11,
  AUXV: 12,
  EXE_FILE: 13,
  MAP: 14,
  MAP_SIZE: 15,
});

/** mmap flags (`MAP_*`). */
export const MAP = Object.freeze({
  SHARED: 0x1,
  PRIVATE: 0x2,
  SHARED_VALIDATE: 0x3,
  TYPE: 0xf,
  FIXED: 0x10,
  ANONYMOUS: 0x20,
  GROWSDOWN: 0x100,
  DENYWRITE: 0x800,
  EXECUTABLE: 0x1000,
  LOCKED: 0x2000,
  NORESERVE: 0x4000,
  POPULATE: 0x8000,
  NONBLOCK: 0x10000,
  STACK: 0x20000,
  HUGETLB: 0x40000,
  SYNC: 0x80000,
  FIXED_NOREPLACE: 0x100000,
});

/** Memory protections (`PROT_*`). */
export const PROT = Object.freeze({
  NONE: 0x0,
  READ: 0x1,
  WRITE: 0x2,
  EXEC: 0x4,
  GROWSDOWN: 0x1000000,
  GROWSUP: 0x2000000,
});

/** madvise advice (`MADV_*`). */
export const MADV = Object.freeze({
  NORMAL: 0,
  RANDOM: 1,
  SEQUENTIAL: 2,
  WILLNEED: 3,
  DONTNEED: 4,
  FREE: 8,
  REMOVE: 9,
  DONTFORK: 10,
  DOFORK: 11,
  MERGEABLE: 12,
  UNMERGEABLE: 13,
  HUGEPAGE: 14,
  NOHUGEPAGE: 15,
  DONTDUMP: 16,
  DODUMP: 17,
  WIPEONFORK: 18,
  KEEPONFORK: 19,
});

/** memfd_create flags (`MFD_*`). */
export const MFD = Object.freeze({ CLOEXEC: 0x1, ALLOW_SEALING: 0x2, HUGETLB: 0x4 });

/** ELF note types, used as the `PTRACE_GETREGSET` register set selector (`NT_*`). */
export const NT = Object.freeze({
  PRSTATUS: 1,
  PRFPREG: 2,
  PRPSINFO: 3,
  TASKSTRUCT: 4,
  AUXV: 6,
  SIGINFO: 0x53494749,
  FILE: 0x46494c45,
  PRXFPREG: 0x46e62b7f,
  X86_XSTATE: 0x202,
  ARM_VFP: 0x400,
  ARM_TLS: 0x401,
  ARM_HW_BREAK: 0x402,
  ARM_HW_WATCH: 0x403,
  ARM_SYSTEM_CALL: 0x404,
  ARM_SVE: 0x405,
  ARM_PAC_MASK: 0x406,
});

/** pidfd_open flags: `PIDFD_NONBLOCK` (equal to `O_NONBLOCK`). */
export const PIDFD_NONBLOCK = 0o4000;

/** sysconf name for the page size (`_SC_PAGESIZE`, glibc's numbering). */
export const SC_PAGESIZE = 30;

/** Every constant of this file under its C name, for the header probe test. */
export function taskConstantEntries(): Array<[string, number | bigint]> {
  const entries: Array<[string, number | bigint]> = [
    ...prefixed('PTRACE_', PTRACE),
    ...prefixed('PTRACE_O_', PTRACE_O),
    ...prefixed('PTRACE_EVENT_', PTRACE_EVENT),
    ['PTRACE_PEEKSIGINFO_SHARED', PTRACE_PEEKSIGINFO_SHARED],
    ...prefixed('P_', P),
    ...prefixed('CLD_', CLD),
    ...prefixed('SI_', SI),
    ...prefixed('SIG', SIG),
    ...prefixed('CLONE_', CLONE),
    ['CSIGNAL', CSIGNAL],
    ...prefixed('CLONE_ARGS_SIZE_', CLONE_ARGS_SIZE),
    ...prefixed('PR_', PR),
    ...prefixed('PR_SET_MM_', PR_SET_MM),
    ...prefixed('MAP_', MAP),
    ...prefixed('PROT_', PROT),
    ...prefixed('MADV_', MADV),
    ...prefixed('MFD_', MFD),
    ...prefixed('NT_', NT),
    ['PIDFD_NONBLOCK', PIDFD_NONBLOCK],
    ['_SC_PAGESIZE', SC_PAGESIZE],
  ];
  for (const [key, value] of Object.entries(WAIT)) {
    const linuxOnly = key === 'NOTHREAD' || key === 'ALL' || key === 'CLONE';
    entries.push([`${linuxOnly ? '__W' : 'W'}${key}`, value]);
  }
  return entries;
}

/** `[prefix + key, value]` for every entry of a constant group. */
export function prefixed(prefix: string, group: Readonly<Record<string, number | bigint>>): Array<[string, number | bigint]> {
  return Object.entries(group).map(([key, value]) => [prefix + key, value]);
}

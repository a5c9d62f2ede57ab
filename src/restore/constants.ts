/** Facts of CRIU's image format restore reads: VMA status bits, fd flags, signal numbers. */

/** CRIU's VMA_* status bits (vma_entry.status). */
export const VMA = Object.freeze({
  AREA_REGULAR: 1 << 0,
  AREA_STACK: 1 << 1,
  AREA_VSYSCALL: 1 << 2,
  AREA_VDSO: 1 << 3,
  AREA_HEAP: 1 << 5,
  FILE_PRIVATE: 1 << 6,
  FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8,
  ANON_PRIVATE: 1 << 9,
  AREA_SYSVIPC: 1 << 10,
  AREA_SOCKET: 1 << 11,
  AREA_VVAR: 1 << 12,
  AREA_AIORING: 1 << 13,
  AREA_MEMFD: 1 << 14,
  UNSUPP: 1 << 31,
});

/** fdinfo_entry.flags: the fd's close-on-exec bit (FD_CLOEXEC). */
export const FD_CLOEXEC = 1;

/** Signals restore treats specially. */
export const SIGNAL = Object.freeze({ TRAP: 5, KILL: 9, SEGV: 11, STOP: 19, COUNT: 64 });

/** `SIG_IGN` as a handler value. */
export const SIG_IGN = 1n;

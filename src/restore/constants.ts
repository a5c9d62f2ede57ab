/** Facts of CRIU's image format restore reads: VMA status bits, fd flags, signal numbers. */

export { VMA } from '../images/vma_status.js';

/** fdinfo_entry.flags: the fd's close-on-exec bit (FD_CLOEXEC). */
export const FD_CLOEXEC = 1;

/** Signals restore treats specially. */
export const SIGNAL = Object.freeze({ TRAP: 5, KILL: 9, SEGV: 11, STOP: 19, COUNT: 64 });

/** `SIG_IGN` as a handler value. */
export const SIG_IGN = 1n;

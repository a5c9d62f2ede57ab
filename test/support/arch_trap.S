/* The trap sequences of arch/<arch>/ops.ts, assembled by the host's assembler for comparison. */
	.text
	.globl syscall_trap
syscall_trap:
#if defined(__x86_64__)
	syscall
	int3
#elif defined(__aarch64__)
	svc #0
	brk #0
#endif

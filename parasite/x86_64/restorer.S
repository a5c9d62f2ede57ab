/*
 * parasite/x86_64/restorer.S - the criu-ts restorer for x86_64 (protocol: parasite/restorer_protocol.ts).
 *
 * Position-independent, no relocations, no libc, no stack, raw system calls only. Assembled with
 * GNU `as` by scripts/build-blobs.mjs, which commits the bytes and the offsets of the
 * __export_restorer_* symbols to arch/x86_64/restorer_blob.ts.
 *
 * It runs inside a task being restored, from the task's bootstrap area: an anonymous mapping the
 * driver placed where none of the image's memory areas and none of the task's mappings are.
 *
 * Entry points (offsets from the start of the blob):
 *   __export_restorer_batch      rdi = control block. Runs the block's syscall records in order,
 *                                each result written back into its record, and stops at the int3
 *                                after the loop (the driver waits for that SIGTRAP). A record
 *                                flagged R_F_STOP whose result is -errno ends the loop early
 *                                (ctl.status = R_STATUS_STOPPED). An argument whose bit is set in
 *                                the record's `from` mask is the result of an earlier record (its
 *                                index is the argument): an fd openat gave, to mmap or close.
 *   __export_restorer_sigreturn  rdi = the stack pointer of a sigframe built by
 *                                arch/x86_64/sigframe.ts: rt_sigreturn into the task's own
 *                                registers, extended state, signal mask and sigaltstack.
 *   __export_restorer_site       `syscall; int3`: where the driver runs single remote syscalls,
 *                                and the last step of a restore (see below).
 *   __export_restorer_reap       rdi = a pid, rsi = a 4-byte slot. The whole life of the init of
 *                                a PID namespace made for a restore (--unshare pid): reaps every
 *                                child and orphan (wait4(-1, rsi, __WALL, NULL)) until none is
 *                                left (ECHILD), then exits with the exit code of the child whose
 *                                pid is rdi (the tree's root), 128 + the signal that killed it, or
 *                                0 if it was never seen. Never returns.
 *
 * The switch (why the bootstrap does not survive): the driver runs the sigreturn entry under
 * PTRACE_SYSCALL, so the task stops at the exit of rt_sigreturn, already in its saved state. The
 * leader is then made to run munmap(bootstrap) at __export_restorer_site, again under
 * PTRACE_SYSCALL: at that syscall's exit stop the bootstrap (this code included) is gone and the
 * task has not run a single instruction since, so the driver puts the saved registers and mask
 * back and detaches. Nothing of the restore is left in the task's memory, and no fault is taken.
 *
 * Register use in the batch loop (`syscall` clobbers rax, rcx and r11 only):
 *   rbx  control block      r12  the current record      r13  record count
 *   r14  index of the current record                      r15  the records array
 *   ecx  the current record's `from` mask (free again once the arguments are loaded)
 */

	.text
	.code64

/* ---- restorer protocol (parasite/restorer_protocol.ts has the same numbers; the blob test compares them) ---- */
	.equ R_MAGIC,              0x52545343
	.equ R_VERSION,            1

	.equ R_CTL_MAGIC,          0
	.equ R_CTL_COUNT,          4
	.equ R_CTL_RECORDS,        8
	.equ R_CTL_DONE,           16
	.equ R_CTL_STATUS,         20
	.equ R_CTL_RESULT,         24
	.equ R_CTL_SIZE,           64

	.equ R_STATUS_RUNNING,     0
	.equ R_STATUS_DONE,        1
	.equ R_STATUS_STOPPED,     2
	.equ R_STATUS_BAD_CTL,     3

	.equ R_REC_NR,             0
	.equ R_REC_FLAGS,          4
	.equ R_REC_FROM,           5
	.equ R_REC_ARGS,           8
	.equ R_REC_RESULT,         56
	.equ R_REC_SIZE,           64
	.equ R_REC_SHIFT,          6

	.equ R_F_STOP,             1

/* ---- x86_64 ABI facts (checked against the C headers by the blob test) ---- */
	.equ NR_rt_sigreturn,      15
	.equ NR_wait4,             61
	.equ NR_exit_group,        231

/* ---- Linux constants (errno.h, linux/wait.h; checked by the blob test) ---- */
	.equ ECHILD,               10
	.equ WALL,                 0x40000000

/*
 * LOADARG i, reg: reg = record.args[i], or, when bit i of ecx is set, the result of the record
 * whose index that argument holds.
 */
	.macro LOADARG i, reg
	mov	R_REC_ARGS + 8 * \i(%r12), \reg
	bt	$\i, %ecx
	jnc	1f
	shl	$R_REC_SHIFT, \reg
	mov	R_REC_RESULT(%r15, \reg), \reg
1:
	.endm

	.globl	__export_restorer_batch
	.type	__export_restorer_batch, @function
__export_restorer_batch:
	mov	%rdi, %rbx
	cmpl	$R_MAGIC, R_CTL_MAGIC(%rbx)
	jne	.Lbad_ctl
	mov	R_CTL_RECORDS(%rbx), %r15
	movl	R_CTL_COUNT(%rbx), %r13d
	xor	%r14d, %r14d
	movl	$0, R_CTL_DONE(%rbx)
	movl	$R_STATUS_RUNNING, R_CTL_STATUS(%rbx)
.Lnext:
	cmp	%r13d, %r14d
	jae	.Lall_done
	mov	%r14, %r12
	shl	$R_REC_SHIFT, %r12
	add	%r15, %r12
	movzbl	R_REC_FROM(%r12), %ecx
	LOADARG	0, %rdi
	LOADARG	1, %rsi
	LOADARG	2, %rdx
	LOADARG	3, %r10
	LOADARG	4, %r8
	LOADARG	5, %r9
	movl	R_REC_NR(%r12), %eax
	syscall
	mov	%rax, R_REC_RESULT(%r12)
	mov	%rax, R_CTL_RESULT(%rbx)
	inc	%r14d
	movl	%r14d, R_CTL_DONE(%rbx)
	cmp	$-4095, %rax
	jb	.Lnext			/* unsigned: not in -4095..-1, a success */
	testb	$R_F_STOP, R_REC_FLAGS(%r12)
	jz	.Lnext
	movl	$R_STATUS_STOPPED, R_CTL_STATUS(%rbx)
	jmp	.Ltrap
.Lall_done:
	movl	$R_STATUS_DONE, R_CTL_STATUS(%rbx)
	jmp	.Ltrap
.Lbad_ctl:
	movl	$R_STATUS_BAD_CTL, R_CTL_STATUS(%rbx)
.Ltrap:
	.globl	__export_restorer_batch_trap
__export_restorer_batch_trap:
	int3
	ud2
	.size	__export_restorer_batch, . - __export_restorer_batch

	.globl	__export_restorer_sigreturn
	.type	__export_restorer_sigreturn, @function
__export_restorer_sigreturn:
	mov	%rdi, %rsp
	mov	$NR_rt_sigreturn, %eax
	syscall
	ud2
	.size	__export_restorer_sigreturn, . - __export_restorer_sigreturn

	.globl	__export_restorer_site
	.type	__export_restorer_site, @function
__export_restorer_site:
	syscall
	int3
	ud2
	.size	__export_restorer_site, . - __export_restorer_site

	.globl	__export_restorer_reap
	.type	__export_restorer_reap, @function
__export_restorer_reap:
	mov	%rdi, %r12		/* the root's pid */
	mov	%rsi, %r13		/* the status slot */
	xor	%r14d, %r14d		/* the exit code so far */
.Lreap_next:
	mov	$NR_wait4, %eax
	mov	$-1, %rdi
	mov	%r13, %rsi
	mov	$WALL, %edx
	xor	%r10d, %r10d
	syscall
	cmp	$-ECHILD, %rax
	je	.Lreap_done
	cmp	%r12, %rax
	jne	.Lreap_next		/* another task, or EINTR: wait on */
	movl	(%r13), %ecx
	mov	%ecx, %edx
	and	$0x7f, %edx
	jz	.Lreap_exited
	lea	128(%rdx), %r14d	/* killed by signal edx */
	jmp	.Lreap_next
.Lreap_exited:
	shr	$8, %ecx
	movzbl	%cl, %r14d
	jmp	.Lreap_next
.Lreap_done:
	mov	$NR_exit_group, %eax
	mov	%r14d, %edi
	syscall
	ud2
	.size	__export_restorer_reap, . - __export_restorer_reap

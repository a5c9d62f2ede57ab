/*
 * parasite/x86_64/parasite.S - the criu-ts parasite for x86_64 (protocol: parasite/protocol.md).
 *
 * Position-independent, no relocations, no libc, raw system calls only. Assembled with GNU `as`
 * (no C preprocessor) by scripts/build-blobs.mjs, which commits the bytes and the offsets of the
 * __export_* symbols to arch/x86_64/parasite_blob.ts.
 *
 * Entry points (offsets from the start of the blob):
 *   __export_parasite_daemon    rdi = control block. Connects to the driver's SOCK_SEQPACKET
 *                               socket and serves commands until FINI, EOF or any transport error.
 *   __export_parasite_thread    rdi = a control block whose msg field holds one command; runs it
 *                               (the reply is written over msg) and returns.
 *   __export_parasite_sigreturn the `syscall` instruction of the common exit path
 *                               (rt_sigreturn; the syscall-entry stop reports rip = this + 2).
 *
 * The driver starts either entry with rsp = top of a parasite stack of at least P_STACK_MIN bytes
 * (16-byte aligned), every signal blocked, orig_rax = -1, and the sigframe already written at
 * ctl.sigreturn_sp - 8. Every exit path ends at __export_parasite_sigreturn: rsp is loaded from
 * ctl.sigreturn_sp and rt_sigreturn puts back the task's registers, FPU state, signal mask and
 * sigaltstack. There is no int3 or other trap anywhere: an untraced task (its driver died) goes
 * back to its own code by itself.
 *
 * Register use (kept across the whole run; `syscall` clobbers only rax, rcx and r11):
 *   rbx  control block            rbp  the frame of locals (L_* below), below the entry rsp
 *   r12  control socket fd or -1   r15  the current message (L_MSG, or ctl.msg in thread mode)
 *   r13, r14  scratch of the command handlers (kept across syscalls and helper calls)
 * Helpers take arguments in rdi, rsi and return in eax (0 or -errno). The direction flag is
 * cleared at entry (the task may have been stopped with DF set).
 */

	.text
	.code64

/* ---- protocol (parasite/protocol.ts has the same numbers; the blob test compares them) ---- */
	.equ P_MAGIC,              0x50535443
	.equ P_VERSION,            1
	.equ P_STACK_MIN,          16384

	.equ P_CTL_MAGIC,          0
	.equ P_CTL_VERSION,        4
	.equ P_CTL_SIGRETURN_SP,   8
	.equ P_CTL_ARGS,           16
	.equ P_CTL_ARGS_SIZE,      24
	.equ P_CTL_STATE,          32
	.equ P_CTL_ERROR,          36
	.equ P_CTL_SOCK_FD,        40
	.equ P_CTL_ADDR_LEN,       44
	.equ P_CTL_PIPE_FDS,       48
	.equ P_CTL_MSG,            64
	.equ P_CTL_ADDR,           128
	.equ P_CTL_SIZE,           256
	.equ P_ADDR_MAX,           110

	.equ P_STATE_NEW,          0
	.equ P_STATE_STARTED,      1
	.equ P_STATE_CONNECTED,    2
	.equ P_STATE_EXITING,      3

	.equ P_MSG_CMD,            0
	.equ P_MSG_STATUS,         4
	.equ P_MSG_SEQ,            8
	.equ P_MSG_FLAGS,          12
	.equ P_MSG_NR,             16
	.equ P_MSG_INDEX,          20
	.equ P_MSG_A0,             24
	.equ P_MSG_A1,             32
	.equ P_MSG_A2,             40
	.equ P_MSG_A3,             48
	.equ P_MSG_A4,             56
	.equ P_MSG_SIZE,           64
	.equ P_MSG_F_MORE,         1

	.equ P_CMD_PING,           1
	.equ P_CMD_FINI,           2
	.equ P_CMD_SIGACTIONS,     3
	.equ P_CMD_MISC,           4
	.equ P_CMD_FDS,            5
	.equ P_CMD_MEMORY,         6

	.equ P_SIGACTION_SIZE,     32
	.equ P_SIGACTIONS_SIZE,    2048
	.equ P_FDS_BATCH,          253
	.equ P_MEM_RANGE_SIZE,     16
	.equ P_MEM_IOV_MAX,        512

	.equ P_MISC_F_THREAD,      1
	.equ P_MISC_SIZE,          512
	.equ P_MISC_VALID,         0
	.equ P_MISC_PID,           8
	.equ P_MISC_TID,           12
	.equ P_MISC_ITIMER_REAL,   16
	.equ P_MISC_ITIMER_VIRTUAL, 48
	.equ P_MISC_ITIMER_PROF,   80
	.equ P_MISC_ALTSTACK,      112
	.equ P_MISC_UMASK,         136
	.equ P_MISC_PERSONALITY,   140
	.equ P_MISC_TID_ADDRESS,   144
	.equ P_MISC_CHILD_SUBREAPER, 152
	.equ P_MISC_DUMPABLE,      156
	.equ P_MISC_NO_NEW_PRIVS,  160
	.equ P_MISC_THP_DISABLE,   164
	.equ P_MISC_PDEATHSIG,     168
	.equ P_MISC_KEEPCAPS,      172
	.equ P_MISC_TIMERSLACK,    176
	.equ P_MISC_SECUREBITS,    184
	.equ P_MISC_FIRST_ERROR,   188
	.equ P_MISC_NAME,          192
	.equ P_MISC_RLIMITS,       208
	.equ P_MISC_FIRST_ERROR_ITEM, 464
	.equ P_MISC_ITEM_PID,              0
	.equ P_MISC_ITEM_TID,              1
	.equ P_MISC_ITEM_ITIMER_REAL,      2
	.equ P_MISC_ITEM_ITIMER_VIRTUAL,   3
	.equ P_MISC_ITEM_ITIMER_PROF,      4
	.equ P_MISC_ITEM_ALTSTACK,         5
	.equ P_MISC_ITEM_UMASK,            6
	.equ P_MISC_ITEM_PERSONALITY,      7
	.equ P_MISC_ITEM_TID_ADDRESS,      8
	.equ P_MISC_ITEM_CHILD_SUBREAPER,  9
	.equ P_MISC_ITEM_DUMPABLE,         10
	.equ P_MISC_ITEM_NO_NEW_PRIVS,     11
	.equ P_MISC_ITEM_THP_DISABLE,      12
	.equ P_MISC_ITEM_PDEATHSIG,        13
	.equ P_MISC_ITEM_KEEPCAPS,         14
	.equ P_MISC_ITEM_TIMERSLACK,       15
	.equ P_MISC_ITEM_SECUREBITS,       16
	.equ P_MISC_ITEM_NAME,             17
	.equ P_MISC_ITEM_RLIMIT0,          18
	.equ P_TIMER_SIZE,         48
	.equ P_TIMER_ID,           0
	.equ P_TIMER_STATUS,       4
	.equ P_TIMER_OVERRUN,      8
	.equ P_TIMER_SPEC,         16

/* ---- x86_64 ABI facts: every name below is also a macro of the C headers (NR_x: SYS_x), and
 * the blob test compares each value with gcc's ---- */
	.equ NR_close,             3
	.equ NR_rt_sigaction,      13
	.equ NR_rt_sigreturn,      15
	.equ NR_getitimer,         36
	.equ NR_getpid,            39
	.equ NR_socket,            41
	.equ NR_connect,           42
	.equ NR_sendmsg,           46
	.equ NR_recvmsg,           47
	.equ NR_fcntl,             72
	.equ NR_umask,             95
	.equ NR_sigaltstack,       131
	.equ NR_personality,       135
	.equ NR_prctl,             157
	.equ NR_gettid,            186
	.equ NR_timer_gettime,     224
	.equ NR_timer_getoverrun,  225
	.equ NR_ppoll,             271
	.equ NR_vmsplice,          278
	.equ NR_prlimit64,         302

	.equ EINTR,                4
	.equ E2BIG,                7
	.equ EBADF,                9
	.equ EAGAIN,               11
	.equ EINVAL,               22
	.equ ENOSYS,               38
	.equ EPROTO,               71
	.equ EBADMSG,              74
	.equ EOPNOTSUPP,           95
	.equ ECONNRESET,           104

	.equ AF_UNIX,              1
	.equ SOCK_SEQPACKET,       5
	.equ SOCK_CLOEXEC,         0x80000
	.equ SOL_SOCKET,           1
	.equ SCM_RIGHTS,           1
	.equ MSG_CTRUNC,           0x8
	.equ MSG_TRUNC,            0x20
	.equ MSG_NOSIGNAL,         0x4000
	.equ MSG_CMSG_CLOEXEC,     0x40000000
	.equ F_GETFD,              1
	.equ F_GETPIPE_SZ,         1032
	.equ SPLICE_F_NONBLOCK,    2
	.equ POLLOUT,              0x4
	.equ POLLRDHUP,            0x2000
	.equ SIGKILL,              9
	.equ SIGSTOP,              19

	.equ PR_GET_PDEATHSIG,     2
	.equ PR_GET_DUMPABLE,      3
	.equ PR_GET_KEEPCAPS,      7
	.equ PR_GET_NAME,          16
	.equ PR_GET_SECUREBITS,    27
	.equ PR_GET_TIMERSLACK,    30
	.equ PR_GET_CHILD_SUBREAPER, 37
	.equ PR_GET_NO_NEW_PRIVS,  39
	.equ PR_GET_TID_ADDRESS,   40
	.equ PR_GET_THP_DISABLE,   42

/* ---- x86_64 layouts (the blob test checks them with offsetof) ---- */
	.equ SIGSET_SIZE,          8           /* the kernel's sigset_t */
	.equ SIG_LAST,             64          /* signals are 1..SIG_LAST */
	.equ PAGE_SIZE,            4096
	/* struct msghdr, struct cmsghdr (LP64). */
	.equ MH_NAME,              0
	.equ MH_NAMELEN,           8
	.equ MH_IOV,               16
	.equ MH_IOVLEN,            24
	.equ MH_CONTROL,           32
	.equ MH_CONTROLLEN,        40
	.equ MH_FLAGS,             48
	.equ CMSG_HDR,             16
	.equ CMSG_RECV_ROOM,       24          /* CMSG_LEN(2 * sizeof(int)): two fds at most */

	/* rt_sigreturn finds the frame at rsp - 8 (its pretcode); uc_stack is at uc + 16. */
	.equ SIGRETURN_SP_TO_UC_STACK, 16

/* ---- the frame of locals (rbp-relative) ---- */
	.equ L_MSG,                0           /* 64: the message received, then the reply */
	.equ L_REQ,                64          /* 64: a copy of the request */
	.equ L_IOV,                128         /* 16: one iovec over L_MSG */
	.equ L_HDR,                144         /* 56: struct msghdr */
	.equ L_POLL,               200         /* 16: two struct pollfd */
	.equ L_PIPE_W,             216         /* 4: MEMORY pipe, write end, or -1 */
	.equ L_PIPE_R,             220         /* 4: MEMORY pipe, read end, or -1 */
	.equ L_NFDS,               224         /* 4: fds received with the current message */
	.equ L_RFDS,               228         /* 8: those fds */
	.equ L_TOTAL,              240         /* 8: MEMORY: bytes moved by this command */
	.equ L_CAP,                248         /* 8: MEMORY: bytes per batch */
	.equ L_CMSG,               256         /* 1040: control buffer (send: up to 253 fds) */
	.equ L_BIDX,               1296        /* 2048: MEMORY: range index of each batch iovec */
	.equ L_BIOV,               3344        /* 8192: MEMORY: the batch's iovecs */
	.equ L_FRAME,              11536

/* One system call: number in eax; arguments in rdi, rsi, rdx, r10, r8, r9. */
.macro SYS nr
	mov	$\nr, %eax
	syscall
.endm

/* Jumps to \label when rax holds -errno (-4095..-1). */
.macro JERR label
	cmp	$-4095, %rax
	jae	\label
.endm

/* ======================================================================================== */

	.globl	__export_parasite_daemon
	.type	__export_parasite_daemon, @function
__export_parasite_daemon:
	call	setup
	call	enter
	test	%eax, %eax
	jnz	parasite_exit

	/* socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0) */
	mov	$AF_UNIX, %edi
	mov	$(SOCK_SEQPACKET | SOCK_CLOEXEC), %esi
	xor	%edx, %edx
	SYS	NR_socket
	JERR	parasite_exit
	mov	%rax, %r12
	mov	%eax, P_CTL_SOCK_FD(%rbx)

	/* connect(sock, &ctl.addr, ctl.addr_len) */
	mov	P_CTL_ADDR_LEN(%rbx), %edx
	mov	$-EINVAL, %eax
	cmp	$P_ADDR_MAX, %edx
	ja	parasite_exit
	mov	%r12, %rdi
	lea	P_CTL_ADDR(%rbx), %rsi
	SYS	NR_connect
	JERR	parasite_exit
	movl	$P_STATE_CONNECTED, P_CTL_STATE(%rbx)
	lea	L_MSG(%rbp), %r15

daemon_loop:
	call	recv_cmd
	test	%eax, %eax
	jnz	parasite_exit
	call	dispatch
	test	%eax, %eax
	js	parasite_exit
	cmp	$1, %eax
	je	daemon_loop                     /* the command sent its replies itself */
	cmp	$2, %eax
	je	fini                            /* FINI */
	xor	%edi, %edi
	xor	%esi, %esi
	call	send_msg
	test	%eax, %eax
	jnz	parasite_exit
	jmp	daemon_loop
fini:
	xor	%eax, %eax
	jmp	parasite_exit

/* ======================================================================================== */

	.globl	__export_parasite_thread
	.type	__export_parasite_thread, @function
__export_parasite_thread:
	call	setup
	call	enter
	test	%eax, %eax
	jnz	parasite_exit
	lea	P_CTL_MSG(%rbx), %r15
	call	dispatch                        /* r12 = -1: only commands without the socket run */
	xor	%eax, %eax
	jmp	parasite_exit

/* ======================================================================================== */

/*
 * The common exit: eax = 0 or the -errno that ended the parasite. Records it, closes every fd the
 * parasite opened or received, and returns the task to its own code through the sigframe.
 */
parasite_exit:
	mov	%eax, P_CTL_ERROR(%rbx)
	movl	$P_STATE_EXITING, P_CTL_STATE(%rbx)
	mov	%r12, %rdi
	call	close_fd
	movslq	L_PIPE_W(%rbp), %rdi
	call	close_fd
	movslq	L_PIPE_R(%rbp), %rdi
	call	close_fd
	call	close_rfds
	cmpl	$P_MAGIC, P_CTL_MAGIC(%rbx)
	jne	1f                              /* not our control block: leave it alone */
	movl	$-1, P_CTL_SOCK_FD(%rbx)
	movq	$-1, P_CTL_PIPE_FDS(%rbx)
1:	mov	P_CTL_SIGRETURN_SP(%rbx), %rsp
	mov	$NR_rt_sigreturn, %eax
	.globl	__export_parasite_sigreturn
__export_parasite_sigreturn:
	syscall
	/* Not reached: a frame the kernel refuses makes it force SIGSEGV before any return. */
	ud2

/* ======================================================================================== */

/*
 * setup: called first by both entries, on the driver's stack. Takes rdi = control block; makes the
 * frame of locals, clears DF and the fd slots. Returns with rbx, rbp, r12 set.
 */
setup:
	cld
	pop	%rax                            /* our return address */
	mov	%rdi, %rbx
	and	$-16, %rsp
	sub	$L_FRAME, %rsp
	mov	%rsp, %rbp
	mov	$-1, %r12
	movl	$-1, L_PIPE_W(%rbp)
	movl	$-1, L_PIPE_R(%rbp)
	movl	$0, L_NFDS(%rbp)
	jmp	*%rax

/*
 * enter: first saves the task's sigaltstack into the sigframe's uc_stack (rt_sigreturn sets the
 * altstack from it, so this must happen before any exit), then checks the control block's magic
 * and version (ctl.sigreturn_sp, at offset 8, is the one field every version keeps) and marks the
 * run as started. Returns eax = 0 or -errno.
 */
enter:
	xor	%edi, %edi
	mov	P_CTL_SIGRETURN_SP(%rbx), %rsi
	add	$SIGRETURN_SP_TO_UC_STACK, %rsi
	SYS	NR_sigaltstack
	JERR	1f
	mov	$-EPROTO, %eax
	cmpl	$P_MAGIC, P_CTL_MAGIC(%rbx)
	jne	1f
	cmpl	$P_VERSION, P_CTL_VERSION(%rbx)
	jne	1f
	movl	$P_STATE_STARTED, P_CTL_STATE(%rbx)
	movl	$0, P_CTL_ERROR(%rbx)
	movl	$-1, P_CTL_SOCK_FD(%rbx)
	movq	$-1, P_CTL_PIPE_FDS(%rbx)
	xor	%eax, %eax
1:	ret

/* close_fd: closes rdi when it is >= 0. */
close_fd:
	test	%rdi, %rdi
	js	1f
	SYS	NR_close
1:	ret

/* close_rfds: closes the fds received with the current message. */
close_rfds:
	push	%r13
	xor	%r13d, %r13d
1:	cmp	L_NFDS(%rbp), %r13d
	jae	2f
	movslq	L_RFDS(%rbp,%r13,4), %rdi
	call	close_fd
	inc	%r13d
	jmp	1b
2:	movl	$0, L_NFDS(%rbp)
	pop	%r13
	ret

/* msghdr_init: L_HDR = { iov = L_IOV (one iovec over L_MSG), control = rdi, controllen = rsi }. */
msghdr_init:
	lea	L_MSG(%rbp), %rax
	mov	%rax, L_IOV(%rbp)
	movq	$P_MSG_SIZE, L_IOV+8(%rbp)
	movq	$0, L_HDR+MH_NAME(%rbp)
	movq	$0, L_HDR+MH_NAMELEN(%rbp)
	lea	L_IOV(%rbp), %rax
	mov	%rax, L_HDR+MH_IOV(%rbp)
	movq	$1, L_HDR+MH_IOVLEN(%rbp)
	mov	%rdi, L_HDR+MH_CONTROL(%rbp)
	mov	%rsi, L_HDR+MH_CONTROLLEN(%rbp)
	movq	$0, L_HDR+MH_FLAGS(%rbp)
	ret

/*
 * recv_cmd: receives one command into L_MSG, and up to two fds (SCM_RIGHTS) into L_RFDS.
 * Returns 0, -ECONNRESET on EOF, -EBADMSG on a message of the wrong size or with cut control
 * data, or recvmsg's -errno.
 */
recv_cmd:
	lea	L_CMSG(%rbp), %rdi
	mov	$CMSG_RECV_ROOM, %esi
	call	msghdr_init
1:	mov	%r12, %rdi
	lea	L_HDR(%rbp), %rsi
	mov	$MSG_CMSG_CLOEXEC, %edx
	SYS	NR_recvmsg
	cmp	$-EINTR, %rax
	je	1b
	JERR	9f
	test	%rax, %rax
	jz	8f
	mov	%rax, %r8                       /* bytes */
	/* The fds, if any: one SCM_RIGHTS header at the start of the control buffer. */
	cmpq	$CMSG_HDR, L_HDR+MH_CONTROLLEN(%rbp)
	jb	3f
	cmpl	$SOL_SOCKET, L_CMSG+8(%rbp)
	jne	3f
	cmpl	$SCM_RIGHTS, L_CMSG+12(%rbp)
	jne	3f
	mov	L_CMSG(%rbp), %rcx
	sub	$CMSG_HDR, %rcx
	shr	$2, %rcx
	cmp	$2, %rcx
	ja	3f
	mov	%ecx, L_NFDS(%rbp)
	mov	L_CMSG+CMSG_HDR(%rbp), %rax
	mov	%rax, L_RFDS(%rbp)
3:	cmp	$P_MSG_SIZE, %r8
	jne	7f
	testl	$(MSG_TRUNC | MSG_CTRUNC), L_HDR+MH_FLAGS(%rbp)
	jnz	7f
	xor	%eax, %eax
	ret
7:	call	close_rfds
	mov	$-EBADMSG, %eax
	ret
8:	mov	$-ECONNRESET, %eax
9:	ret

/*
 * send_msg: sends L_MSG (64 bytes) on the control socket with control data rdi/rsi (0/0: none).
 * MSG_NOSIGNAL: a broken socket never raises SIGPIPE in the task. Returns 0 or -errno.
 */
send_msg:
	call	msghdr_init
1:	mov	%r12, %rdi
	lea	L_HDR(%rbp), %rsi
	mov	$MSG_NOSIGNAL, %edx
	SYS	NR_sendmsg
	cmp	$-EINTR, %rax
	je	1b
	JERR	9f
	xor	%eax, %eax
9:	ret

/* ======================================================================================== */

/*
 * dispatch: runs the command at r15. Saves the request to L_REQ, resets the reply fields (status,
 * flags, nr = 0, index = -1, a0..a4 = 0; cmd and seq stay), then jumps to the handler.
 * Returns 0 (send r15 as the reply), 1 (the handler sent its replies), 2 (FINI) or -errno
 * (the control socket failed).
 */
dispatch:
	mov	%r15, %rsi
	lea	L_REQ(%rbp), %rdi
	mov	$(P_MSG_SIZE / 8), %ecx
	rep movsq
	lea	P_MSG_A0(%r15), %rdi
	mov	$((P_MSG_SIZE - P_MSG_A0) / 8), %ecx
	xor	%eax, %eax
	rep stosq
	movl	$0, P_MSG_STATUS(%r15)
	movl	$0, P_MSG_FLAGS(%r15)
	movl	$0, P_MSG_NR(%r15)
	movl	$-1, P_MSG_INDEX(%r15)
	mov	P_MSG_CMD(%r15), %eax
	cmp	$P_CMD_MEMORY, %eax
	je	h_memory
	cmpl	$0, L_NFDS(%rbp)
	jne	.Lunwanted_fds
	cmp	$P_CMD_PING, %eax
	je	h_ping
	cmp	$P_CMD_FINI, %eax
	je	h_fini
	cmp	$P_CMD_SIGACTIONS, %eax
	je	h_sigactions
	cmp	$P_CMD_MISC, %eax
	je	h_misc
	cmp	$P_CMD_FDS, %eax
	je	h_fds
	mov	$-ENOSYS, %eax
	jmp	reply_status
.Lunwanted_fds:
	call	close_rfds
	mov	$-EINVAL, %eax
	/* fall through */

/* reply_status: the reply's status = eax; returns 0 (send it). */
reply_status:
	mov	%eax, P_MSG_STATUS(%r15)
	xor	%eax, %eax
	ret

/* PING: echoes a0..a4. */
h_ping:
	lea	L_REQ+P_MSG_A0(%rbp), %rsi
	lea	P_MSG_A0(%r15), %rdi
	mov	$((P_MSG_SIZE - P_MSG_A0) / 8), %ecx
	rep movsq
	xor	%eax, %eax
	ret

/* FINI: daemon mode only; no reply, the exit path follows. */
h_fini:
	mov	$-EOPNOTSUPP, %eax
	test	%r12, %r12
	js	reply_status
	mov	$2, %eax
	ret

/*
 * SIGACTIONS: rt_sigaction(sig, NULL, &args[sig - 1], 8) for sig = 1..64; SIGKILL and SIGSTOP
 * entries are zero. nr = 64; status/index = the first failure and its signal.
 */
h_sigactions:
	mov	$-E2BIG, %eax
	cmpq	$P_SIGACTIONS_SIZE, P_CTL_ARGS_SIZE(%rbx)
	jb	reply_status
	mov	$1, %r13d
1:	lea	-1(%r13), %rdx
	shl	$5, %rdx
	add	P_CTL_ARGS(%rbx), %rdx
	cmp	$SIGKILL, %r13d
	je	2f
	cmp	$SIGSTOP, %r13d
	je	2f
	mov	%r13d, %edi
	xor	%esi, %esi
	mov	$SIGSET_SIZE, %r10d
	SYS	NR_rt_sigaction
	JERR	3f
	jmp	4f
2:	xor	%eax, %eax
	mov	%rax, (%rdx)
	mov	%rax, 8(%rdx)
	mov	%rax, 16(%rdx)
	mov	%rax, 24(%rdx)
	jmp	4f
3:	cmpl	$0, P_MSG_STATUS(%r15)
	jne	4f
	mov	%eax, P_MSG_STATUS(%r15)
	mov	%r13d, P_MSG_INDEX(%r15)
4:	inc	%r13d
	cmp	$SIG_LAST, %r13d
	jbe	1b
	movl	$SIG_LAST, P_MSG_NR(%r15)
	xor	%eax, %eax
	ret

/* ---------------------------------------------------------------------------------------- */

/*
 * MISC: fills the MISC block at args[0..512) from misc_table, then (daemon mode, no
 * P_MISC_F_THREAD) reads the nr POSIX timers listed at args[512..]. nr = timers read.
 */
	.equ K_RET32,  0        /* store the result, 32 bits */
	.equ K_RET64,  1        /* store the result, 64 bits */
	.equ K_PTR1,   2        /* the result goes through the second argument */
	.equ K_PTR3,   3        /* the result goes through the fourth argument (prlimit64) */
	.equ K_UMASK,  4        /* umask(0), then umask(old): store old */
	.equ K_END,    0xff
	.equ T,        1        /* per-thread item: also read in P_MISC_F_THREAD mode */

h_misc:
	xor	%eax, %eax
	testl	$P_MISC_F_THREAD, L_REQ+P_MSG_FLAGS(%rbp)
	jnz	1f
	mov	L_REQ+P_MSG_NR(%rbp), %eax
1:	imul	$P_TIMER_SIZE, %rax, %rax
	add	$P_MISC_SIZE, %rax
	cmp	P_CTL_ARGS_SIZE(%rbx), %rax
	mov	$-E2BIG, %eax
	ja	reply_status
	mov	P_CTL_ARGS(%rbx), %rdi
	mov	$(P_MISC_SIZE / 8), %ecx
	xor	%eax, %eax
	rep stosq
	mov	P_CTL_ARGS(%rbx), %rax
	movl	$-1, P_MISC_FIRST_ERROR_ITEM(%rax)
	/* sigaltstack: enter() already read it into the sigframe's uc_stack (24 bytes). */
	mov	P_CTL_SIGRETURN_SP(%rbx), %rsi
	mov	(SIGRETURN_SP_TO_UC_STACK)(%rsi), %rcx
	mov	%rcx, P_MISC_ALTSTACK(%rax)
	mov	(SIGRETURN_SP_TO_UC_STACK + 8)(%rsi), %rcx
	mov	%rcx, P_MISC_ALTSTACK + 8(%rax)
	mov	(SIGRETURN_SP_TO_UC_STACK + 16)(%rsi), %rcx
	mov	%rcx, P_MISC_ALTSTACK + 16(%rax)
	mov	$(1 << P_MISC_ITEM_ALTSTACK), %r14d
	lea	misc_table(%rip), %r13

.Lmisc_item:
	movzbl	(%r13), %eax
	cmp	$K_END, %eax
	je	.Lmisc_timers
	testl	$P_MISC_F_THREAD, L_REQ+P_MSG_FLAGS(%rbp)
	jz	1f
	testb	$T, 2(%r13)
	jz	.Lmisc_next
1:	movzwl	6(%r13), %r9d
	add	P_CTL_ARGS(%rbx), %r9           /* r9: where the result goes (kept by syscall) */
	mov	8(%r13), %edi
	mov	12(%r13), %esi
	xor	%edx, %edx
	xor	%r10d, %r10d
	xor	%r8d, %r8d
	cmpb	$K_PTR1, (%r13)
	jne	2f
	mov	%r9, %rsi
2:	cmpb	$K_PTR3, (%r13)
	jne	3f
	mov	%r9, %r10
3:	cmpb	$K_UMASK, (%r13)
	jne	4f
	xor	%edi, %edi
	SYS	NR_umask
	mov	%eax, (%r9)
	mov	%rax, %rdi                      /* umask(old) puts it back */
4:	movzwl	4(%r13), %eax
	syscall
	JERR	.Lmisc_fail
	cmpb	$K_RET32, (%r13)
	jne	5f
	mov	%eax, (%r9)
5:	cmpb	$K_RET64, (%r13)
	jne	6f
	mov	%rax, (%r9)
6:	movzbl	1(%r13), %eax
	bts	%rax, %r14
.Lmisc_next:
	add	$16, %r13
	jmp	.Lmisc_item
.Lmisc_fail:
	mov	P_CTL_ARGS(%rbx), %rcx
	cmpl	$0, P_MISC_FIRST_ERROR(%rcx)
	jne	.Lmisc_next
	mov	%eax, P_MISC_FIRST_ERROR(%rcx)
	movzbl	1(%r13), %eax
	mov	%eax, P_MISC_FIRST_ERROR_ITEM(%rcx)
	jmp	.Lmisc_next

.Lmisc_timers:
	mov	P_CTL_ARGS(%rbx), %rax
	mov	%r14, P_MISC_VALID(%rax)
	testl	$P_MISC_F_THREAD, L_REQ+P_MSG_FLAGS(%rbp)
	jnz	9f
	xor	%r13d, %r13d
1:	cmp	L_REQ+P_MSG_NR(%rbp), %r13d
	jae	8f
	imul	$P_TIMER_SIZE, %r13, %r14
	add	P_CTL_ARGS(%rbx), %r14
	add	$P_MISC_SIZE, %r14              /* r14: this timer's entry */
	movslq	P_TIMER_ID(%r14), %rdi
	lea	P_TIMER_SPEC(%r14), %rsi
	SYS	NR_timer_gettime
	JERR	2f
	movslq	P_TIMER_ID(%r14), %rdi
	SYS	NR_timer_getoverrun
	JERR	2f
	mov	%eax, P_TIMER_OVERRUN(%r14)
	xor	%eax, %eax
2:	mov	%eax, P_TIMER_STATUS(%r14)
	inc	%r13d
	jmp	1b
8:	mov	%r13d, P_MSG_NR(%r15)
9:	xor	%eax, %eax
	ret

/* One MISC item: kind, valid bit, flags (T: per thread), syscall nr, result offset, arg0, arg1. */
.macro ITEM kind, bit, flags, nr, off, a0=0, a1=0
	.byte	\kind, \bit, \flags, 0
	.short	\nr, \off
	.long	\a0, \a1
.endm

	.balign	16
misc_table:
	ITEM	K_RET32, P_MISC_ITEM_PID,             T, NR_getpid,      P_MISC_PID
	ITEM	K_RET32, P_MISC_ITEM_TID,             T, NR_gettid,      P_MISC_TID
	ITEM	K_PTR1,  P_MISC_ITEM_ITIMER_REAL,     0, NR_getitimer,   P_MISC_ITIMER_REAL,     0
	ITEM	K_PTR1,  P_MISC_ITEM_ITIMER_VIRTUAL,  0, NR_getitimer,   P_MISC_ITIMER_VIRTUAL,  1
	ITEM	K_PTR1,  P_MISC_ITEM_ITIMER_PROF,     0, NR_getitimer,   P_MISC_ITIMER_PROF,     2
	ITEM	K_UMASK, P_MISC_ITEM_UMASK,           0, NR_umask,       P_MISC_UMASK
	ITEM	K_RET32, P_MISC_ITEM_PERSONALITY,     T, NR_personality, P_MISC_PERSONALITY,     0xffffffff
	ITEM	K_PTR1,  P_MISC_ITEM_TID_ADDRESS,     T, NR_prctl,       P_MISC_TID_ADDRESS,     PR_GET_TID_ADDRESS
	ITEM	K_PTR1,  P_MISC_ITEM_CHILD_SUBREAPER, 0, NR_prctl,       P_MISC_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER
	ITEM	K_RET32, P_MISC_ITEM_DUMPABLE,        0, NR_prctl,       P_MISC_DUMPABLE,        PR_GET_DUMPABLE
	ITEM	K_RET32, P_MISC_ITEM_NO_NEW_PRIVS,    T, NR_prctl,       P_MISC_NO_NEW_PRIVS,    PR_GET_NO_NEW_PRIVS
	ITEM	K_RET32, P_MISC_ITEM_THP_DISABLE,     0, NR_prctl,       P_MISC_THP_DISABLE,     PR_GET_THP_DISABLE
	ITEM	K_PTR1,  P_MISC_ITEM_PDEATHSIG,       T, NR_prctl,       P_MISC_PDEATHSIG,       PR_GET_PDEATHSIG
	ITEM	K_RET32, P_MISC_ITEM_KEEPCAPS,        T, NR_prctl,       P_MISC_KEEPCAPS,        PR_GET_KEEPCAPS
	ITEM	K_RET64, P_MISC_ITEM_TIMERSLACK,      T, NR_prctl,       P_MISC_TIMERSLACK,      PR_GET_TIMERSLACK
	ITEM	K_RET32, P_MISC_ITEM_SECUREBITS,      T, NR_prctl,       P_MISC_SECUREBITS,      PR_GET_SECUREBITS
	ITEM	K_PTR1,  P_MISC_ITEM_NAME,            T, NR_prctl,       P_MISC_NAME,            PR_GET_NAME
	.irp	r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	ITEM	K_PTR3, (P_MISC_ITEM_RLIMIT0+\r), 0, NR_prlimit64, (P_MISC_RLIMITS+16*\r), 0, \r
	.endr
	ITEM	K_END, 0, 0, 0, 0

/* ---------------------------------------------------------------------------------------- */

/*
 * FDS: sends the nr fds listed at args (u32 each) back with SCM_RIGHTS, P_FDS_BATCH per reply,
 * in order. Every fd is checked first (fcntl F_GETFD): a closed one fails the whole command
 * (status -EBADF, index = its position, nothing sent). Replies: index = position of the batch's
 * first fd, nr = fds attached, P_MSG_F_MORE on all but the last.
 */
h_fds:
	mov	$-EOPNOTSUPP, %eax
	test	%r12, %r12
	js	reply_status
	mov	L_REQ+P_MSG_NR(%rbp), %eax
	shl	$2, %rax
	cmp	P_CTL_ARGS_SIZE(%rbx), %rax
	mov	$-E2BIG, %eax
	ja	reply_status
	xor	%r13d, %r13d
1:	cmp	L_REQ+P_MSG_NR(%rbp), %r13d
	jae	2f
	mov	P_CTL_ARGS(%rbx), %rax
	mov	(%rax,%r13,4), %edi
	mov	$F_GETFD, %esi
	SYS	NR_fcntl
	JERR	.Lfds_bad
	inc	%r13d
	jmp	1b
.Lfds_bad:
	mov	%r13d, P_MSG_INDEX(%r15)
	jmp	reply_status
2:	xor	%r13d, %r13d                    /* r13: position of the batch's first fd */
	cmpl	$0, L_REQ+P_MSG_NR(%rbp)
	jne	3f
	xor	%eax, %eax                      /* nothing listed: one plain reply */
	ret
3:	mov	L_REQ+P_MSG_NR(%rbp), %r14d
	sub	%r13d, %r14d
	cmp	$P_FDS_BATCH, %r14d
	jbe	4f
	mov	$P_FDS_BATCH, %r14d             /* r14: fds in this batch */
4:	lea	CMSG_HDR(,%r14,4), %rax
	mov	%rax, L_CMSG(%rbp)
	movl	$SOL_SOCKET, L_CMSG+8(%rbp)
	movl	$SCM_RIGHTS, L_CMSG+12(%rbp)
	mov	P_CTL_ARGS(%rbx), %rsi
	lea	(%rsi,%r13,4), %rsi
	lea	L_CMSG+CMSG_HDR(%rbp), %rdi
	mov	%r14d, %ecx
	rep movsl
	mov	%r13d, P_MSG_INDEX(%r15)
	mov	%r14d, P_MSG_NR(%r15)
	movl	$0, P_MSG_FLAGS(%r15)
	lea	(%r13,%r14), %eax
	cmp	L_REQ+P_MSG_NR(%rbp), %eax
	jae	5f
	movl	$P_MSG_F_MORE, P_MSG_FLAGS(%r15)
5:	lea	L_CMSG(%rbp), %rdi
	lea	(CMSG_HDR + 7)(,%r14,4), %rsi
	and	$-8, %rsi                       /* CMSG_SPACE */
	call	send_msg
	test	%eax, %eax
	jnz	9f
	add	%r14d, %r13d
	cmp	L_REQ+P_MSG_NR(%rbp), %r13d
	jb	3b
	mov	$1, %eax
9:	ret

/* ---------------------------------------------------------------------------------------- */

/*
 * MEMORY: vmsplices the nr page-aligned ranges listed at args ({u64 addr, u64 len} each) into the
 * pipe, in batches of at most L_CAP bytes (min(a0, the pipe's size) rounded down to pages; a0 = 0:
 * the pipe's size) and P_MEM_IOV_MAX iovecs. The request may carry the pipe as two fds [write end,
 * read end] (kept until the parasite exits; a new pair replaces the old). The read end is held so
 * that the pipe never loses its last reader while we write: no SIGPIPE can be raised in the task.
 * Writes are non-blocking; a full pipe is waited for with ppoll together with the control socket,
 * so a driver that dies never leaves the task blocked here.
 *
 * After each batch but the last: a reply {flags MORE, nr = ranges done, a0 = bytes of this batch,
 * a1 = bytes so far}. The final reply (sent by the main loop) is the same without MORE, or on a
 * failure: status = -errno, index = the failing range, a2 = the address that failed, and a0/a1 the
 * bytes that did go into the pipe (the driver must splice them out too).
 */
h_memory:
	cmpl	$0, L_NFDS(%rbp)
	je	2f
	mov	$-EINVAL, %eax
	cmpl	$2, L_NFDS(%rbp)
	jne	1f
	movslq	L_PIPE_W(%rbp), %rdi
	call	close_fd
	movslq	L_PIPE_R(%rbp), %rdi
	call	close_fd
	mov	L_RFDS(%rbp), %rax
	mov	%rax, L_PIPE_W(%rbp)            /* both ends at once */
	mov	%rax, P_CTL_PIPE_FDS(%rbx)      /* and for the driver, should we fault */
	movl	$0, L_NFDS(%rbp)
	jmp	2f
1:	call	close_rfds
	mov	$-EINVAL, %eax
	jmp	reply_status
2:	mov	$-EOPNOTSUPP, %eax
	test	%r12, %r12
	js	reply_status
	mov	$-EBADF, %eax
	cmpl	$0, L_PIPE_W(%rbp)
	jl	reply_status
	mov	L_REQ+P_MSG_NR(%rbp), %eax
	shl	$4, %rax
	cmp	P_CTL_ARGS_SIZE(%rbx), %rax
	mov	$-E2BIG, %eax
	ja	reply_status

	/* Every range page-aligned, or nothing moves. */
	xor	%r13d, %r13d
1:	cmp	L_REQ+P_MSG_NR(%rbp), %r13d
	jae	2f
	mov	%r13, %rax
	shl	$4, %rax
	add	P_CTL_ARGS(%rbx), %rax
	mov	(%rax), %rcx
	or	8(%rax), %rcx
	test	$(PAGE_SIZE - 1), %ecx
	jnz	.Lmem_misaligned
	inc	%r13d
	jmp	1b
.Lmem_misaligned:
	mov	%r13d, P_MSG_INDEX(%r15)
	mov	$-EINVAL, %eax
	jmp	reply_status

	/* The batch size: the pipe's size, or less if the driver asks. */
2:	movslq	L_PIPE_W(%rbp), %rdi
	mov	$F_GETPIPE_SZ, %esi
	SYS	NR_fcntl
	JERR	reply_status
	mov	L_REQ+P_MSG_A0(%rbp), %rcx
	test	%rcx, %rcx
	jz	3f
	cmp	%rax, %rcx
	cmovb	%rcx, %rax
3:	and	$-PAGE_SIZE, %rax
	jnz	4f
	mov	$-EINVAL, %eax
	jmp	reply_status
4:	mov	%rax, L_CAP(%rbp)
	movq	$0, L_TOTAL(%rbp)
	/* The poll set for a full pipe: the pipe, and the control socket for a hang-up. */
	mov	L_PIPE_W(%rbp), %eax
	mov	%eax, L_POLL(%rbp)
	movl	$POLLOUT, L_POLL+4(%rbp)
	mov	%r12d, L_POLL+8(%rbp)
	movl	$POLLRDHUP, L_POLL+12(%rbp)
	xor	%r13d, %r13d                    /* r13: the current range */
	xor	%r14d, %r14d                    /* r14: bytes of it already in a batch */

.Lmem_batch:
	/* Build the batch: r8 = iovecs, r9 = bytes. No syscall here. */
	xor	%r8d, %r8d
	xor	%r9d, %r9d
1:	cmp	L_REQ+P_MSG_NR(%rbp), %r13d
	jae	3f
	cmp	$P_MEM_IOV_MAX, %r8d
	jae	3f
	cmp	L_CAP(%rbp), %r9
	jae	3f
	mov	%r13, %rax
	shl	$4, %rax
	add	P_CTL_ARGS(%rbx), %rax
	mov	(%rax), %rdx
	add	%r14, %rdx                      /* rdx: address */
	mov	8(%rax), %rcx
	sub	%r14, %rcx                      /* rcx: bytes left in this range */
	jnz	2f
	inc	%r13d                           /* range done (or empty) */
	xor	%r14d, %r14d
	jmp	1b
2:	mov	L_CAP(%rbp), %r10
	sub	%r9, %r10
	cmp	%r10, %rcx
	cmova	%r10, %rcx                      /* take = min(left, room) */
	mov	%r8, %rax
	shl	$4, %rax
	mov	%rdx, L_BIOV(%rbp,%rax)
	mov	%rcx, L_BIOV+8(%rbp,%rax)
	mov	%r13d, L_BIDX(%rbp,%r8,4)
	inc	%r8d
	add	%rcx, %r9
	add	%rcx, %r14
	jmp	1b
3:	test	%r8d, %r8d
	jz	.Lmem_done

	/* Write it: r8 = iovecs, r10 = k (the first iovec not fully written), r9 = bytes written. */
	xor	%r10d, %r10d                    /* r10 (kept by syscall): k */
	xor	%r9d, %r9d                      /* r9: bytes of this batch in the pipe */
.Lmem_write:
	cmp	%r8d, %r10d
	jae	.Lmem_written
	movslq	L_PIPE_W(%rbp), %rdi
	mov	%r10, %rsi
	shl	$4, %rsi
	lea	L_BIOV(%rbp,%rsi), %rsi
	mov	%r8, %rdx
	sub	%r10, %rdx
	push	%r10
	mov	$SPLICE_F_NONBLOCK, %r10d
	SYS	NR_vmsplice
	pop	%r10
	cmp	$-EAGAIN, %rax
	je	.Lmem_wait
	cmp	$-EINTR, %rax
	je	.Lmem_write
	JERR	.Lmem_fail
	add	%rax, %r9
	/* Skip what went in: whole iovecs, then part of one. */
4:	test	%rax, %rax
	jz	.Lmem_write
	mov	%r10, %rsi
	shl	$4, %rsi
	lea	L_BIOV(%rbp,%rsi), %rsi
	cmp	8(%rsi), %rax
	jb	5f
	sub	8(%rsi), %rax
	inc	%r10d
	jmp	4b
5:	add	%rax, (%rsi)
	sub	%rax, 8(%rsi)
	jmp	.Lmem_write

.Lmem_wait:
	/* ppoll(L_POLL, 2, NULL, NULL, 8): wait for room in the pipe or a hang-up of the driver. */
	push	%r8
	push	%r9
	push	%r10
6:	lea	L_POLL(%rbp), %rdi
	mov	$2, %esi
	xor	%edx, %edx
	xor	%r10d, %r10d
	mov	$SIGSET_SIZE, %r8d
	SYS	NR_ppoll
	cmp	$-EINTR, %rax
	je	6b
	pop	%r10
	pop	%r9
	pop	%r8
	JERR	.Lmem_fail
	cmpw	$0, L_POLL+14(%rbp)
	jne	.Lmem_hangup                    /* anything on the socket mid-command: driver gone */
	jmp	.Lmem_write

.Lmem_hangup:
	mov	$-ECONNRESET, %eax
	ret

.Lmem_fail:
	/* status, index = the failing range, a2 = the failing address; a0/a1 count what went in. */
	mov	%eax, P_MSG_STATUS(%r15)
	mov	L_BIDX(%rbp,%r10,4), %eax
	mov	%eax, P_MSG_INDEX(%r15)
	mov	%eax, P_MSG_NR(%r15)
	mov	%r10, %rsi
	shl	$4, %rsi
	mov	L_BIOV(%rbp,%rsi), %rax
	mov	%rax, P_MSG_A2(%r15)
	add	%r9, L_TOTAL(%rbp)
	mov	%r9, P_MSG_A0(%r15)
	mov	L_TOTAL(%rbp), %rax
	mov	%rax, P_MSG_A1(%r15)
	xor	%eax, %eax
	ret

.Lmem_written:
	add	%r9, L_TOTAL(%rbp)
	mov	%r9, P_MSG_A0(%r15)
	mov	L_TOTAL(%rbp), %rax
	mov	%rax, P_MSG_A1(%r15)
	mov	%r13d, P_MSG_NR(%r15)
	/* More to come? Skip empty ranges first so that the last batch is the one marked final. */
7:	cmp	L_REQ+P_MSG_NR(%rbp), %r13d
	jae	.Lmem_last
	mov	%r13, %rax
	shl	$4, %rax
	add	P_CTL_ARGS(%rbx), %rax
	cmp	8(%rax), %r14
	jb	8f
	inc	%r13d
	xor	%r14d, %r14d
	jmp	7b
8:	movl	$P_MSG_F_MORE, P_MSG_FLAGS(%r15)
	xor	%edi, %edi
	xor	%esi, %esi
	call	send_msg
	test	%eax, %eax
	jnz	9f
	movl	$0, P_MSG_FLAGS(%r15)
	jmp	.Lmem_batch
.Lmem_last:
	mov	%r13d, P_MSG_NR(%r15)
	xor	%eax, %eax
9:	ret

.Lmem_done:
	/* No bytes at all (no ranges, or only empty ones): one final reply. */
	mov	%r13d, P_MSG_NR(%r15)
	xor	%eax, %eax
	ret

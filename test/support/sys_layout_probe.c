/*
 * Prints what the C headers say about the structs, constants, system call numbers and errno
 * values that src/sys/ declares as tables, one fact per line:
 *
 *   arch <x86_64|aarch64>
 *   size <layout> <sizeof>
 *   field <layout>.<field> <offsetof> <sizeof>
 *   const <C name> <value>
 *   nr <syscall> <number>            (the host's <sys/syscall.h>)
 *   nr-generic <syscall> <number>    (asm-generic/unistd.h, the aarch64 table)
 *   errno <name> <number>
 *   macro <CMSG_LEN(n)|CMSG_SPACE(n)> <value>
 *
 * Built twice by test/unit/sys-layout.test.ts: plainly (glibc and libc-facing headers), and with
 * -DPROBE_UAPI (kernel uapi headers only: the kernel's open flags and the generic syscall table,
 * which cannot be included together with glibc's <fcntl.h> and <sys/syscall.h>).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>

#define CONST(name) printf("const %s %lld\n", #name, (long long)(name))
#define CONST_AS(label, value) printf("const %s %lld\n", label, (long long)(value))

#ifdef PROBE_UAPI

#include <asm/fcntl.h>
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_NEW_STAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_SYS_CLONE3
#define __ARCH_WANT_MEMFD_SECRET
#include <asm-generic/unistd.h>

#define NRG(name) printf("nr-generic %s %ld\n", #name, (long)__NR_##name)

int main(void)
{
	CONST(O_RDONLY); CONST(O_WRONLY); CONST(O_RDWR); CONST(O_ACCMODE); CONST(O_CREAT);
	CONST(O_EXCL); CONST(O_NOCTTY); CONST(O_TRUNC); CONST(O_APPEND); CONST(O_NONBLOCK);
	CONST(O_DSYNC); CONST_AS("O_ASYNC", FASYNC); CONST(O_DIRECT); CONST(O_LARGEFILE);
	CONST(O_DIRECTORY); CONST(O_NOFOLLOW); CONST(O_NOATIME); CONST(O_CLOEXEC); CONST(O_SYNC);
	CONST(O_PATH); CONST(O_TMPFILE);

	NRG(read); NRG(write); NRG(openat); NRG(close); NRG(lseek); NRG(pread64); NRG(pwrite64);
	NRG(readv); NRG(writev); NRG(preadv); NRG(pwritev); NRG(preadv2); NRG(pwritev2); NRG(mmap);
	NRG(munmap); NRG(mprotect); NRG(mremap); NRG(madvise); NRG(mincore); NRG(pipe2); NRG(splice);
	NRG(vmsplice); NRG(tee); NRG(fcntl); NRG(dup); NRG(dup3); NRG(ioctl); NRG(ftruncate); NRG(statx);
	NRG(getdents64); NRG(readlinkat); NRG(socket); NRG(socketpair); NRG(bind); NRG(connect);
	NRG(listen); NRG(accept4); NRG(sendmsg); NRG(recvmsg); NRG(sendto); NRG(recvfrom);
	NRG(setsockopt); NRG(getsockopt); NRG(getsockname); NRG(getpeername); NRG(shutdown); NRG(kill);
	NRG(tgkill); NRG(tkill); NRG(rt_sigqueueinfo); NRG(rt_tgsigqueueinfo); NRG(rt_sigaction);
	NRG(rt_sigprocmask); NRG(rt_sigreturn); NRG(sigaltstack); NRG(pidfd_open); NRG(pidfd_getfd);
	NRG(pidfd_send_signal); NRG(clone); NRG(clone3); NRG(execve); NRG(execveat); NRG(exit);
	NRG(exit_group); NRG(wait4); NRG(waitid); NRG(ptrace); NRG(process_vm_readv);
	NRG(process_vm_writev); NRG(prctl); NRG(memfd_create); NRG(getpid); NRG(gettid); NRG(getppid);
	NRG(getuid); NRG(geteuid); NRG(getgid); NRG(getegid); NRG(setsid); NRG(getsid); NRG(getpgid);
	NRG(setpgid); NRG(uname); NRG(kcmp); NRG(seccomp); NRG(setns); NRG(unshare); NRG(prlimit64);
	NRG(userfaultfd); NRG(set_tid_address); NRG(set_robust_list); NRG(get_robust_list); NRG(rseq);
	NRG(sched_getaffinity); NRG(sched_setaffinity); NRG(nanosleep); NRG(clock_gettime);
	NRG(clock_nanosleep); NRG(getrandom); NRG(personality); NRG(futex); NRG(openat2);
	NRG(close_range); NRG(capget); NRG(capset); NRG(setresuid); NRG(setresgid); NRG(setgroups); NRG(chroot); NRG(getitimer); NRG(setitimer); NRG(timer_create);
	NRG(timer_settime); NRG(timer_gettime); NRG(timer_delete); NRG(timerfd_create); NRG(timerfd_settime);
	NRG(timerfd_gettime); NRG(eventfd2); NRG(epoll_create1); NRG(epoll_ctl); NRG(signalfd4);
	NRG(inotify_init1); NRG(inotify_add_watch); NRG(inotify_rm_watch); NRG(name_to_handle_at); NRG(open_by_handle_at); NRG(fanotify_init); NRG(sched_yield); NRG(getpriority); NRG(setpriority); NRG(sched_setparam); NRG(sched_getparam); NRG(sched_setscheduler); NRG(sched_getscheduler);
	NRG(umask); NRG(chdir); NRG(fchdir); NRG(mount); NRG(umount2); NRG(pivot_root);
	return 0;
}

#else /* !PROBE_UAPI */

#include <errno.h>
#include <elf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>

#define SIZE(type, label) printf("size %s %zu\n", label, sizeof(type))
#define FIELD(type, label, member) \
	printf("field %s.%s %zu %zu\n", label, #member, offsetof(type, member), sizeof(((type *)0)->member))
#define NR(name) printf("nr %s %ld\n", #name, (long)SYS_##name)
#define ERRNO(name) printf("errno %s %d\n", #name, name)

static void structs(void)
{
	SIZE(struct iovec, "iovec");
	FIELD(struct iovec, "iovec", iov_base);
	FIELD(struct iovec, "iovec", iov_len);

	SIZE(struct msghdr, "msghdr");
	FIELD(struct msghdr, "msghdr", msg_name);
	FIELD(struct msghdr, "msghdr", msg_namelen);
	FIELD(struct msghdr, "msghdr", msg_iov);
	FIELD(struct msghdr, "msghdr", msg_iovlen);
	FIELD(struct msghdr, "msghdr", msg_control);
	FIELD(struct msghdr, "msghdr", msg_controllen);
	FIELD(struct msghdr, "msghdr", msg_flags);

	SIZE(struct cmsghdr, "cmsghdr");
	FIELD(struct cmsghdr, "cmsghdr", cmsg_len);
	FIELD(struct cmsghdr, "cmsghdr", cmsg_level);
	FIELD(struct cmsghdr, "cmsghdr", cmsg_type);
	printf("macro CMSG_LEN(0) %zu\n", (size_t)CMSG_LEN(0));
	printf("macro CMSG_LEN(4) %zu\n", (size_t)CMSG_LEN(4));
	printf("macro CMSG_SPACE(4) %zu\n", (size_t)CMSG_SPACE(4));
	printf("macro CMSG_SPACE(12) %zu\n", (size_t)CMSG_SPACE(12));

	SIZE(struct sockaddr_un, "sockaddr_un");
	FIELD(struct sockaddr_un, "sockaddr_un", sun_family);
	FIELD(struct sockaddr_un, "sockaddr_un", sun_path);

	SIZE(struct sockaddr_in, "sockaddr_in");
	FIELD(struct sockaddr_in, "sockaddr_in", sin_family);
	FIELD(struct sockaddr_in, "sockaddr_in", sin_port);
	FIELD(struct sockaddr_in, "sockaddr_in", sin_addr);
	FIELD(struct sockaddr_in, "sockaddr_in", sin_zero);

	SIZE(struct sockaddr_in6, "sockaddr_in6");
	FIELD(struct sockaddr_in6, "sockaddr_in6", sin6_family);
	FIELD(struct sockaddr_in6, "sockaddr_in6", sin6_port);
	FIELD(struct sockaddr_in6, "sockaddr_in6", sin6_flowinfo);
	FIELD(struct sockaddr_in6, "sockaddr_in6", sin6_addr);
	FIELD(struct sockaddr_in6, "sockaddr_in6", sin6_scope_id);

	SIZE(struct sockaddr_storage, "sockaddr_storage");
	FIELD(struct sockaddr_storage, "sockaddr_storage", ss_family);

	SIZE(struct ucred, "ucred");
	FIELD(struct ucred, "ucred", pid);
	FIELD(struct ucred, "ucred", uid);
	FIELD(struct ucred, "ucred", gid);

	SIZE(struct clone_args, "clone_args");
	FIELD(struct clone_args, "clone_args", flags);
	FIELD(struct clone_args, "clone_args", pidfd);
	FIELD(struct clone_args, "clone_args", child_tid);
	FIELD(struct clone_args, "clone_args", parent_tid);
	FIELD(struct clone_args, "clone_args", exit_signal);
	FIELD(struct clone_args, "clone_args", stack);
	FIELD(struct clone_args, "clone_args", stack_size);
	FIELD(struct clone_args, "clone_args", tls);
	FIELD(struct clone_args, "clone_args", set_tid);
	FIELD(struct clone_args, "clone_args", set_tid_size);
	FIELD(struct clone_args, "clone_args", cgroup);

	SIZE(siginfo_t, "siginfo_t");
	FIELD(siginfo_t, "siginfo_t", si_signo);
	FIELD(siginfo_t, "siginfo_t", si_errno);
	FIELD(siginfo_t, "siginfo_t", si_code);
	FIELD(siginfo_t, "siginfo_t", si_pid);
	FIELD(siginfo_t, "siginfo_t", si_uid);
	FIELD(siginfo_t, "siginfo_t", si_status);
	FIELD(siginfo_t, "siginfo_t", si_utime);
	FIELD(siginfo_t, "siginfo_t", si_stime);
	FIELD(siginfo_t, "siginfo_t", si_value);
	FIELD(siginfo_t, "siginfo_t", si_addr);
	FIELD(siginfo_t, "siginfo_t", si_timerid);
	FIELD(siginfo_t, "siginfo_t", si_overrun);
	FIELD(siginfo_t, "siginfo_t", si_band);
	FIELD(siginfo_t, "siginfo_t", si_fd);
	FIELD(siginfo_t, "siginfo_t", si_call_addr);
	FIELD(siginfo_t, "siginfo_t", si_syscall);
	FIELD(siginfo_t, "siginfo_t", si_arch);

	SIZE(struct __ptrace_peeksiginfo_args, "ptrace_peeksiginfo_args");
	FIELD(struct __ptrace_peeksiginfo_args, "ptrace_peeksiginfo_args", off);
	FIELD(struct __ptrace_peeksiginfo_args, "ptrace_peeksiginfo_args", flags);
	FIELD(struct __ptrace_peeksiginfo_args, "ptrace_peeksiginfo_args", nr);

	SIZE(struct __ptrace_rseq_configuration, "ptrace_rseq_configuration");
	FIELD(struct __ptrace_rseq_configuration, "ptrace_rseq_configuration", rseq_abi_pointer);
	FIELD(struct __ptrace_rseq_configuration, "ptrace_rseq_configuration", rseq_abi_size);
	FIELD(struct __ptrace_rseq_configuration, "ptrace_rseq_configuration", signature);
	FIELD(struct __ptrace_rseq_configuration, "ptrace_rseq_configuration", flags);
	FIELD(struct __ptrace_rseq_configuration, "ptrace_rseq_configuration", pad);

	SIZE(struct timespec, "timespec");
	FIELD(struct timespec, "timespec", tv_sec);
	FIELD(struct timespec, "timespec", tv_nsec);

	SIZE(struct statx, "statx");
	FIELD(struct statx, "statx", stx_mask);
	FIELD(struct statx, "statx", stx_blksize);
	FIELD(struct statx, "statx", stx_attributes);
	FIELD(struct statx, "statx", stx_nlink);
	FIELD(struct statx, "statx", stx_uid);
	FIELD(struct statx, "statx", stx_gid);
	FIELD(struct statx, "statx", stx_mode);
	FIELD(struct statx, "statx", stx_ino);
	FIELD(struct statx, "statx", stx_size);
	FIELD(struct statx, "statx", stx_blocks);
	FIELD(struct statx, "statx", stx_attributes_mask);
	FIELD(struct statx, "statx", stx_atime);
	FIELD(struct statx, "statx", stx_btime);
	FIELD(struct statx, "statx", stx_ctime);
	FIELD(struct statx, "statx", stx_mtime);
	FIELD(struct statx, "statx", stx_rdev_major);
	FIELD(struct statx, "statx", stx_rdev_minor);
	FIELD(struct statx, "statx", stx_dev_major);
	FIELD(struct statx, "statx", stx_dev_minor);
	FIELD(struct statx, "statx", stx_mnt_id);

	SIZE(struct statx_timestamp, "statx_timestamp");
	FIELD(struct statx_timestamp, "statx_timestamp", tv_sec);
	FIELD(struct statx_timestamp, "statx_timestamp", tv_nsec);

	SIZE(struct utsname, "utsname");
	FIELD(struct utsname, "utsname", sysname);
	FIELD(struct utsname, "utsname", nodename);
	FIELD(struct utsname, "utsname", release);
	FIELD(struct utsname, "utsname", version);
	FIELD(struct utsname, "utsname", machine);
	FIELD(struct utsname, "utsname", domainname);
}

static void task_constants(void)
{
	CONST(PTRACE_TRACEME); CONST(PTRACE_PEEKTEXT); CONST(PTRACE_PEEKDATA); CONST(PTRACE_PEEKUSER);
	CONST(PTRACE_POKETEXT); CONST(PTRACE_POKEDATA); CONST(PTRACE_POKEUSER); CONST(PTRACE_CONT);
	CONST(PTRACE_KILL); CONST(PTRACE_SINGLESTEP); CONST(PTRACE_ATTACH); CONST(PTRACE_DETACH);
	CONST(PTRACE_SYSCALL); CONST(PTRACE_SETOPTIONS); CONST(PTRACE_GETEVENTMSG);
	CONST(PTRACE_GETSIGINFO); CONST(PTRACE_SETSIGINFO); CONST(PTRACE_GETREGSET);
	CONST(PTRACE_SETREGSET); CONST(PTRACE_SEIZE); CONST(PTRACE_INTERRUPT); CONST(PTRACE_LISTEN);
	CONST(PTRACE_PEEKSIGINFO); CONST(PTRACE_GETSIGMASK); CONST(PTRACE_SETSIGMASK);
	CONST(PTRACE_SECCOMP_GET_FILTER); CONST(PTRACE_SECCOMP_GET_METADATA);
	CONST(PTRACE_GET_SYSCALL_INFO); CONST(PTRACE_GET_RSEQ_CONFIGURATION);

	CONST(PTRACE_O_TRACESYSGOOD); CONST(PTRACE_O_TRACEFORK); CONST(PTRACE_O_TRACEVFORK);
	CONST(PTRACE_O_TRACECLONE); CONST(PTRACE_O_TRACEEXEC); CONST(PTRACE_O_TRACEVFORKDONE);
	CONST(PTRACE_O_TRACEEXIT); CONST(PTRACE_O_TRACESECCOMP); CONST(PTRACE_O_EXITKILL);
	CONST(PTRACE_O_SUSPEND_SECCOMP);

	CONST(PTRACE_EVENT_FORK); CONST(PTRACE_EVENT_VFORK); CONST(PTRACE_EVENT_CLONE);
	CONST(PTRACE_EVENT_EXEC); CONST(PTRACE_EVENT_VFORK_DONE); CONST(PTRACE_EVENT_EXIT);
	CONST(PTRACE_EVENT_SECCOMP); CONST(PTRACE_EVENT_STOP);
	CONST(PTRACE_PEEKSIGINFO_SHARED);

	CONST(WNOHANG); CONST(WUNTRACED); CONST(WSTOPPED); CONST(WEXITED); CONST(WCONTINUED);
	CONST(WNOWAIT); CONST(__WNOTHREAD); CONST(__WALL); CONST(__WCLONE);
	CONST(P_ALL); CONST(P_PID); CONST(P_PGID); CONST(P_PIDFD);
	CONST(CLD_EXITED); CONST(CLD_KILLED); CONST(CLD_DUMPED); CONST(CLD_TRAPPED);
	CONST(CLD_STOPPED); CONST(CLD_CONTINUED);
	CONST(SI_USER); CONST(SI_KERNEL); CONST(SI_QUEUE); CONST(SI_TIMER); CONST(SI_MESGQ);
	CONST(SI_ASYNCIO); CONST(SI_SIGIO); CONST(SI_TKILL);

	CONST(SIGHUP); CONST(SIGINT); CONST(SIGQUIT); CONST(SIGILL); CONST(SIGTRAP); CONST(SIGABRT);
	CONST(SIGBUS); CONST(SIGFPE); CONST(SIGKILL); CONST(SIGUSR1); CONST(SIGSEGV); CONST(SIGUSR2);
	CONST(SIGPIPE); CONST(SIGALRM); CONST(SIGTERM); CONST(SIGSTKFLT); CONST(SIGCHLD);
	CONST(SIGCONT); CONST(SIGSTOP); CONST(SIGTSTP); CONST(SIGTTIN); CONST(SIGTTOU); CONST(SIGURG);
	CONST(SIGXCPU); CONST(SIGXFSZ); CONST(SIGVTALRM); CONST(SIGPROF); CONST(SIGWINCH); CONST(SIGIO);
	CONST(SIGPWR); CONST(SIGSYS);

	CONST(CLONE_NEWTIME); CONST(CLONE_VM); CONST(CLONE_FS); CONST(CLONE_FILES);
	CONST(CLONE_SIGHAND); CONST(CLONE_PIDFD); CONST(CLONE_PTRACE); CONST(CLONE_VFORK);
	CONST(CLONE_PARENT); CONST(CLONE_THREAD); CONST(CLONE_NEWNS); CONST(CLONE_SYSVSEM);
	CONST(CLONE_SETTLS); CONST(CLONE_PARENT_SETTID); CONST(CLONE_CHILD_CLEARTID);
	CONST(CLONE_DETACHED); CONST(CLONE_UNTRACED); CONST(CLONE_CHILD_SETTID);
	CONST(CLONE_NEWCGROUP); CONST(CLONE_NEWUTS); CONST(CLONE_NEWIPC); CONST(CLONE_NEWUSER);
	CONST(CLONE_NEWPID); CONST(CLONE_NEWNET); CONST(CLONE_IO); CONST(CLONE_CLEAR_SIGHAND);
	CONST(CLONE_INTO_CGROUP); CONST(CSIGNAL);
	CONST(CLONE_ARGS_SIZE_VER0); CONST(CLONE_ARGS_SIZE_VER1); CONST(CLONE_ARGS_SIZE_VER2);

	CONST(PR_SET_PDEATHSIG); CONST(PR_GET_PDEATHSIG); CONST(PR_GET_DUMPABLE);
	CONST(PR_SET_DUMPABLE); CONST(PR_SET_NAME); CONST(PR_GET_NAME); CONST(PR_GET_SECCOMP);
	CONST(PR_SET_SECCOMP); CONST(PR_CAPBSET_READ); CONST(PR_CAPBSET_DROP);
	CONST(PR_GET_SECUREBITS); CONST(PR_SET_SECUREBITS); CONST(PR_SET_TIMERSLACK);
	CONST(PR_GET_TIMERSLACK); CONST(PR_SET_MM); CONST(PR_SET_CHILD_SUBREAPER);
	CONST(PR_GET_CHILD_SUBREAPER); CONST(PR_SET_NO_NEW_PRIVS); CONST(PR_GET_NO_NEW_PRIVS);
	CONST(PR_GET_TID_ADDRESS); CONST(PR_SET_THP_DISABLE); CONST(PR_GET_THP_DISABLE);
	CONST(PR_CAP_AMBIENT); CONST(PR_SET_PTRACER);
	CONST(PR_SET_MM_START_CODE); CONST(PR_SET_MM_END_CODE); CONST(PR_SET_MM_START_DATA);
	CONST(PR_SET_MM_END_DATA); CONST(PR_SET_MM_START_STACK); CONST(PR_SET_MM_START_BRK);
	CONST(PR_SET_MM_BRK); CONST(PR_SET_MM_ARG_START); CONST(PR_SET_MM_ARG_END);
	CONST(PR_SET_MM_ENV_START); CONST(PR_SET_MM_ENV_END); CONST(PR_SET_MM_AUXV);
	CONST(PR_SET_MM_EXE_FILE); CONST(PR_SET_MM_MAP); CONST(PR_SET_MM_MAP_SIZE);

	CONST(MAP_SHARED); CONST(MAP_PRIVATE); CONST(MAP_SHARED_VALIDATE); CONST(MAP_TYPE);
	CONST(MAP_FIXED); CONST(MAP_ANONYMOUS); CONST(MAP_GROWSDOWN); CONST(MAP_DENYWRITE);
	CONST(MAP_EXECUTABLE); CONST(MAP_LOCKED); CONST(MAP_NORESERVE); CONST(MAP_POPULATE);
	CONST(MAP_NONBLOCK); CONST(MAP_STACK); CONST(MAP_HUGETLB); CONST(MAP_SYNC);
	CONST(MAP_FIXED_NOREPLACE);
	CONST(PROT_NONE); CONST(PROT_READ); CONST(PROT_WRITE); CONST(PROT_EXEC);
	CONST(PROT_GROWSDOWN); CONST(PROT_GROWSUP);
	CONST(MADV_NORMAL); CONST(MADV_RANDOM); CONST(MADV_SEQUENTIAL); CONST(MADV_WILLNEED);
	CONST(MADV_DONTNEED); CONST(MADV_FREE); CONST(MADV_REMOVE); CONST(MADV_DONTFORK);
	CONST(MADV_DOFORK); CONST(MADV_MERGEABLE); CONST(MADV_UNMERGEABLE); CONST(MADV_HUGEPAGE);
	CONST(MADV_NOHUGEPAGE); CONST(MADV_DONTDUMP); CONST(MADV_DODUMP); CONST(MADV_WIPEONFORK);
	CONST(MADV_KEEPONFORK);
	CONST(MFD_CLOEXEC); CONST(MFD_ALLOW_SEALING); CONST(MFD_HUGETLB);

	CONST(NT_PRSTATUS); CONST(NT_PRFPREG); CONST(NT_PRPSINFO); CONST(NT_TASKSTRUCT);
	CONST(NT_AUXV); CONST(NT_SIGINFO); CONST(NT_FILE); CONST(NT_PRXFPREG); CONST(NT_X86_XSTATE);
	CONST(NT_ARM_VFP); CONST(NT_ARM_TLS); CONST(NT_ARM_HW_BREAK); CONST(NT_ARM_HW_WATCH);
	CONST(NT_ARM_SYSTEM_CALL); CONST(NT_ARM_SVE); CONST(NT_ARM_PAC_MASK);
	CONST(PIDFD_NONBLOCK); CONST(_SC_PAGESIZE);
}

static void io_constants(void)
{
	CONST(AT_FDCWD); CONST(AT_SYMLINK_NOFOLLOW); CONST(AT_REMOVEDIR); CONST(AT_SYMLINK_FOLLOW);
	CONST(AT_NO_AUTOMOUNT); CONST(AT_EMPTY_PATH); CONST(AT_STATX_SYNC_AS_STAT);
	CONST(SEEK_SET); CONST(SEEK_CUR); CONST(SEEK_END); CONST(SEEK_DATA); CONST(SEEK_HOLE);

	CONST(F_DUPFD); CONST(F_GETFD); CONST(F_SETFD); CONST(F_GETFL); CONST(F_SETFL);
	CONST(F_GETLK); CONST(F_SETLK); CONST(F_SETLKW); CONST(F_SETOWN); CONST(F_GETOWN);
	CONST(F_SETSIG); CONST(F_GETSIG); CONST(F_SETOWN_EX); CONST(F_GETOWN_EX); CONST(F_OFD_GETLK);
	CONST(F_OFD_SETLK); CONST(F_OFD_SETLKW); CONST(F_SETLEASE); CONST(F_GETLEASE);
	CONST(F_NOTIFY); CONST(F_DUPFD_CLOEXEC); CONST(F_SETPIPE_SZ); CONST(F_GETPIPE_SZ);
	CONST(F_ADD_SEALS); CONST(F_GET_SEALS); CONST(FD_CLOEXEC);
	CONST(F_SEAL_SEAL); CONST(F_SEAL_SHRINK); CONST(F_SEAL_GROW); CONST(F_SEAL_WRITE);
	CONST(F_SEAL_FUTURE_WRITE);
	CONST(SPLICE_F_MOVE); CONST(SPLICE_F_NONBLOCK); CONST(SPLICE_F_MORE); CONST(SPLICE_F_GIFT);
	CONST(UIO_MAXIOV);

	CONST(STATX_TYPE); CONST(STATX_MODE); CONST(STATX_NLINK); CONST(STATX_UID); CONST(STATX_GID);
	CONST(STATX_ATIME); CONST(STATX_MTIME); CONST(STATX_CTIME); CONST(STATX_INO);
	CONST(STATX_SIZE); CONST(STATX_BLOCKS); CONST(STATX_BASIC_STATS); CONST(STATX_BTIME);
	CONST(STATX_MNT_ID);
	CONST(S_IFMT); CONST(S_IFSOCK); CONST(S_IFLNK); CONST(S_IFREG); CONST(S_IFBLK);
	CONST(S_IFDIR); CONST(S_IFCHR); CONST(S_IFIFO);

	CONST(AF_UNSPEC); CONST(AF_UNIX); CONST(AF_INET); CONST(AF_INET6); CONST(AF_NETLINK);
	CONST(AF_PACKET);
	CONST(SOCK_STREAM); CONST(SOCK_DGRAM); CONST(SOCK_RAW); CONST(SOCK_SEQPACKET);
	CONST(SOCK_NONBLOCK); CONST(SOCK_CLOEXEC);
	CONST(MSG_OOB); CONST(MSG_PEEK); CONST(MSG_DONTROUTE); CONST(MSG_CTRUNC); CONST(MSG_TRUNC);
	CONST(MSG_DONTWAIT); CONST(MSG_EOR); CONST(MSG_WAITALL); CONST(MSG_NOSIGNAL); CONST(MSG_MORE);
	CONST(MSG_CMSG_CLOEXEC);
	CONST(SOL_IP); CONST(SOL_SOCKET); CONST(SOL_TCP); CONST(SOL_IPV6); CONST(SOL_PACKET);
	CONST(SOL_NETLINK);
	CONST(SCM_RIGHTS); CONST(SCM_CREDENTIALS);
	CONST(SO_DEBUG); CONST(SO_REUSEADDR); CONST(SO_TYPE); CONST(SO_ERROR); CONST(SO_DONTROUTE);
	CONST(SO_BROADCAST); CONST(SO_SNDBUF); CONST(SO_RCVBUF); CONST(SO_KEEPALIVE);
	CONST(SO_OOBINLINE); CONST(SO_NO_CHECK); CONST(SO_PRIORITY); CONST(SO_LINGER);
	CONST(SO_REUSEPORT); CONST(SO_PASSCRED); CONST(SO_PEERCRED); CONST(SO_RCVLOWAT);
	CONST(SO_SNDLOWAT); CONST(SO_BINDTODEVICE); CONST(SO_ATTACH_FILTER); CONST(SO_ACCEPTCONN);
	CONST(SO_SNDBUFFORCE); CONST(SO_RCVBUFFORCE); CONST(SO_MARK); CONST(SO_PROTOCOL);
	CONST(SO_DOMAIN); CONST(SO_PEEK_OFF);
	CONST(IPPROTO_IP); CONST(IPPROTO_TCP); CONST(IPPROTO_UDP); CONST(IPPROTO_IPV6);
	CONST(IPPROTO_RAW);
	CONST(TCP_NODELAY); CONST(TCP_MAXSEG); CONST(TCP_CORK); CONST(TCP_KEEPIDLE);
	CONST(TCP_KEEPINTVL); CONST(TCP_KEEPCNT); CONST(TCP_REPAIR); CONST(TCP_REPAIR_QUEUE);
	CONST(TCP_QUEUE_SEQ); CONST(TCP_REPAIR_OPTIONS); CONST(TCP_TIMESTAMP);
	CONST(TCP_REPAIR_WINDOW); CONST(TCP_RECV_QUEUE); CONST(TCP_SEND_QUEUE);
	CONST(SHUT_RD); CONST(SHUT_WR); CONST(SHUT_RDWR);
}

static void syscalls(void)
{
	NR(read); NR(write); NR(openat); NR(close); NR(lseek); NR(pread64); NR(pwrite64); NR(readv);
	NR(writev); NR(preadv); NR(pwritev); NR(preadv2); NR(pwritev2); NR(mmap); NR(munmap);
	NR(mprotect); NR(mremap); NR(madvise); NR(mincore); NR(pipe2); NR(splice); NR(vmsplice);
	NR(tee); NR(fcntl); NR(dup); NR(dup3); NR(ioctl); NR(ftruncate); NR(statx); NR(getdents64);
	NR(readlinkat); NR(socket); NR(socketpair); NR(bind); NR(connect); NR(listen); NR(accept4);
	NR(sendmsg); NR(recvmsg); NR(sendto); NR(recvfrom); NR(setsockopt); NR(getsockopt);
	NR(getsockname); NR(getpeername); NR(shutdown); NR(kill); NR(tgkill); NR(tkill);
	NR(rt_sigqueueinfo); NR(rt_tgsigqueueinfo); NR(rt_sigaction); NR(rt_sigprocmask);
	NR(rt_sigreturn); NR(sigaltstack); NR(pidfd_open); NR(pidfd_getfd); NR(pidfd_send_signal);
	NR(clone); NR(clone3); NR(execve); NR(execveat); NR(exit); NR(exit_group); NR(wait4);
	NR(waitid); NR(ptrace); NR(process_vm_readv); NR(process_vm_writev); NR(prctl);
	NR(memfd_create); NR(getpid); NR(gettid); NR(getppid); NR(getuid); NR(geteuid); NR(getgid);
	NR(getegid); NR(setsid); NR(getsid); NR(getpgid); NR(setpgid); NR(uname); NR(kcmp);
	NR(seccomp); NR(setns); NR(unshare); NR(prlimit64); NR(userfaultfd); NR(set_tid_address);
	NR(set_robust_list); NR(get_robust_list); NR(rseq); NR(sched_getaffinity);
	NR(sched_setaffinity); NR(nanosleep); NR(clock_gettime); NR(clock_nanosleep); NR(getrandom);
	NR(personality); NR(futex); NR(openat2); NR(close_range); NR(capget); NR(capset); NR(setresuid); NR(setresgid); NR(setgroups); NR(chroot);
	NR(getitimer); NR(setitimer); NR(timer_create); NR(timer_settime); NR(timer_gettime); NR(timer_delete);
	NR(timerfd_create); NR(timerfd_settime); NR(timerfd_gettime); NR(eventfd2); NR(epoll_create1);
	NR(epoll_ctl); NR(signalfd4); NR(inotify_init1); NR(inotify_add_watch); NR(inotify_rm_watch); NR(name_to_handle_at); NR(open_by_handle_at); NR(fanotify_init); NR(sched_yield);
	NR(getpriority); NR(setpriority); NR(sched_setparam); NR(sched_getparam); NR(sched_setscheduler); NR(sched_getscheduler); NR(umask); NR(chdir); NR(fchdir); NR(mount); NR(umount2);
	NR(pivot_root);
}

static void errnos(void)
{
	ERRNO(EPERM); ERRNO(ENOENT); ERRNO(ESRCH); ERRNO(EINTR); ERRNO(EIO); ERRNO(ENXIO);
	ERRNO(E2BIG); ERRNO(ENOEXEC); ERRNO(EBADF); ERRNO(ECHILD); ERRNO(EAGAIN); ERRNO(ENOMEM);
	ERRNO(EACCES); ERRNO(EFAULT); ERRNO(ENOTBLK); ERRNO(EBUSY); ERRNO(EEXIST); ERRNO(EXDEV);
	ERRNO(ENODEV); ERRNO(ENOTDIR); ERRNO(EISDIR); ERRNO(EINVAL); ERRNO(ENFILE); ERRNO(EMFILE);
	ERRNO(ENOTTY); ERRNO(ETXTBSY); ERRNO(EFBIG); ERRNO(ENOSPC); ERRNO(ESPIPE); ERRNO(EROFS);
	ERRNO(EMLINK); ERRNO(EPIPE); ERRNO(EDOM); ERRNO(ERANGE); ERRNO(EDEADLK); ERRNO(ENAMETOOLONG);
	ERRNO(ENOLCK); ERRNO(ENOSYS); ERRNO(ENOTEMPTY); ERRNO(ELOOP); ERRNO(ENOMSG); ERRNO(EIDRM);
	ERRNO(ECHRNG); ERRNO(EL2NSYNC); ERRNO(EL3HLT); ERRNO(EL3RST); ERRNO(ELNRNG); ERRNO(EUNATCH);
	ERRNO(ENOCSI); ERRNO(EL2HLT); ERRNO(EBADE); ERRNO(EBADR); ERRNO(EXFULL); ERRNO(ENOANO);
	ERRNO(EBADRQC); ERRNO(EBADSLT); ERRNO(EBFONT); ERRNO(ENOSTR); ERRNO(ENODATA); ERRNO(ETIME);
	ERRNO(ENOSR); ERRNO(ENONET); ERRNO(ENOPKG); ERRNO(EREMOTE); ERRNO(ENOLINK); ERRNO(EADV);
	ERRNO(ESRMNT); ERRNO(ECOMM); ERRNO(EPROTO); ERRNO(EMULTIHOP); ERRNO(EDOTDOT); ERRNO(EBADMSG);
	ERRNO(EOVERFLOW); ERRNO(ENOTUNIQ); ERRNO(EBADFD); ERRNO(EREMCHG); ERRNO(ELIBACC);
	ERRNO(ELIBBAD); ERRNO(ELIBSCN); ERRNO(ELIBMAX); ERRNO(ELIBEXEC); ERRNO(EILSEQ);
	ERRNO(ERESTART); ERRNO(ESTRPIPE); ERRNO(EUSERS); ERRNO(ENOTSOCK); ERRNO(EDESTADDRREQ);
	ERRNO(EMSGSIZE); ERRNO(EPROTOTYPE); ERRNO(ENOPROTOOPT); ERRNO(EPROTONOSUPPORT);
	ERRNO(ESOCKTNOSUPPORT); ERRNO(EOPNOTSUPP); ERRNO(EPFNOSUPPORT); ERRNO(EAFNOSUPPORT);
	ERRNO(EADDRINUSE); ERRNO(EADDRNOTAVAIL); ERRNO(ENETDOWN); ERRNO(ENETUNREACH);
	ERRNO(ENETRESET); ERRNO(ECONNABORTED); ERRNO(ECONNRESET); ERRNO(ENOBUFS); ERRNO(EISCONN);
	ERRNO(ENOTCONN); ERRNO(ESHUTDOWN); ERRNO(ETOOMANYREFS); ERRNO(ETIMEDOUT);
	ERRNO(ECONNREFUSED); ERRNO(EHOSTDOWN); ERRNO(EHOSTUNREACH); ERRNO(EALREADY);
	ERRNO(EINPROGRESS); ERRNO(ESTALE); ERRNO(EUCLEAN); ERRNO(ENOTNAM); ERRNO(ENAVAIL);
	ERRNO(EISNAM); ERRNO(EREMOTEIO); ERRNO(EDQUOT); ERRNO(ENOMEDIUM); ERRNO(EMEDIUMTYPE);
	ERRNO(ECANCELED); ERRNO(ENOKEY); ERRNO(EKEYEXPIRED); ERRNO(EKEYREVOKED); ERRNO(EKEYREJECTED);
	ERRNO(EOWNERDEAD); ERRNO(ENOTRECOVERABLE); ERRNO(ERFKILL); ERRNO(EHWPOISON);
	ERRNO(EWOULDBLOCK); ERRNO(EDEADLOCK); ERRNO(ENOTSUP);
}

int main(void)
{
#if defined(__x86_64__)
	puts("arch x86_64");
#elif defined(__aarch64__)
	puts("arch aarch64");
#else
	puts("arch unknown");
#endif
	structs();
	task_constants();
	io_constants();
	syscalls();
	errnos();
	return 0;
}

#endif /* PROBE_UAPI */

/*
 * An independent second opinion on kernel-check: the same features probed from C, the direct
 * way (forking real children, creating a task at a chosen PID, installing a seccomp filter), so
 * that the test can require `criu-ts check --json` to agree with the kernel.
 *
 * Prints one line per feature: "<name> ok [value]" or "<name> missing <why>".
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static void ok(const char *name, long value) { printf("%s ok %ld\n", name, value); }
static void bad(const char *name, const char *why) { printf("%s missing %s\n", name, why); }

/* A child that sleeps; with_filter installs an allow-all seccomp filter first. */
static pid_t sleeper(int with_filter)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (with_filter) {
			struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
			struct sock_fprog prog = { .len = 1, .filter = &allow };
			prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
			syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
		}
		for (;;)
			pause();
	}
	usleep(20000);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
}

/* Seizes and stops pid with the given options; returns 0 when it is stopped. */
static int seize_stop(pid_t pid, long options)
{
	int status;
	if (ptrace(PTRACE_SEIZE, pid, 0, options))
		return -1;
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0))
		return -1;
	if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
		return -1;
	return 0;
}

static void probe_ptrace(void)
{
	pid_t pid = sleeper(0);
	if (seize_stop(pid, 0)) {
		bad("ptrace_seize", strerror(errno));
		reap(pid);
		return;
	}
	ok("ptrace_seize", 0);

	char xstate[65536];
	struct iovec iov = { xstate, sizeof(xstate) };
	if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) == 0)
		ok("xstate", (long)iov.iov_len);
	else
		bad("xstate", strerror(errno));

	siginfo_t si[4];
	struct { uint64_t off; uint32_t flags; int32_t nr; } peek = { 0, 0, 4 };
	if (ptrace(PTRACE_PEEKSIGINFO, pid, &peek, si) >= 0)
		ok("ptrace_peeksiginfo", 0);
	else
		bad("ptrace_peeksiginfo", strerror(errno));

	struct { uint64_t ptr; uint32_t size, sig, flags, pad; } rseq;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof(rseq), &rseq) > 0)
		ok("get_rseq_conf", rseq.size);
	else
		bad("get_rseq_conf", strerror(errno));
	reap(pid);

	pid = sleeper(0);
	if (seize_stop(pid, PTRACE_O_SUSPEND_SECCOMP) == 0)
		ok("seccomp_suspend", 0);
	else
		bad("seccomp_suspend", strerror(errno));
	reap(pid);

	pid = sleeper(1);
	struct sock_filter insns[16];
	long n = seize_stop(pid, 0) ? -1 : ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, insns);
	if (n > 0)
		ok("seccomp_filters", n);
	else
		bad("seccomp_filters", strerror(errno));
	reap(pid);
}

static void probe_clone3_set_tid(void)
{
	/* Ask for a free PID (below pid_max); another test may take it first: try a few. */
	long pid_max = 32768;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	long pid = -1;
	pid_t want = 0;
	for (int attempt = 0; attempt < 20; attempt++) {
		want = 0;
		for (pid_t p = 300 + (getpid() + 977 * (attempt + 1)) % (pid_max - 400); p < pid_max; p++) {
			if (kill(p, 0) && errno == ESRCH) {
				want = p;
				break;
			}
		}
		struct clone_args args = { .exit_signal = SIGCHLD, .set_tid = (uintptr_t)&want, .set_tid_size = 1 };
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0)
			_exit(0);
		if (pid >= 0 || errno != EEXIST)
			break;
	}
	if (pid < 0) {
		bad("clone3_set_tid", strerror(errno));
		return;
	}
	waitpid(pid, NULL, 0);
	if (pid == want)
		ok("clone3_set_tid", 0);
	else
		bad("clone3_set_tid", "got another pid");
}

static void probe_files(void)
{
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	int fd = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, 0, 0);
	if (fd >= 0)
		ok("pidfd_getfd", 0);
	else
		bad("pidfd_getfd", strerror(errno));

	if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0) == 0)
		ok("kcmp", 0);
	else
		bad("kcmp", strerror(errno));

	if (memfd_create("probe", 0) >= 0)
		ok("memfd", 0);
	else
		bad("memfd", strerror(errno));

	DIR *d = opendir("/proc/self/map_files");
	struct dirent *e;
	char path[512], target[512];
	int found = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/map_files/%s", e->d_name);
		found = readlink(path, target, sizeof(target)) > 0;
		break;
	}
	if (found)
		ok("map_files", 0);
	else
		bad("map_files", "cannot read /proc/self/map_files");

	int sk = socket(AF_INET, SOCK_STREAM, 0);
	int on = 1;
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) == 0)
		ok("tcp_repair", 0);
	else
		bad("tcp_repair", strerror(errno));

	if (getauxval(AT_SYSINFO_EHDR))
		ok("vdso", 0);
	else
		bad("vdso", "no AT_SYSINFO_EHDR");
}

static uint64_t pagemap_word(void *addr)
{
	uint64_t word = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	pread(fd, &word, 8, ((uintptr_t)addr / 4096) * 8);
	close(fd);
	return word;
}

static void probe_memory(void)
{
	char *page = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page[0] = 1;
	if (pagemap_word(page) >> 63)
		ok("pagemap", 0);
	else
		bad("pagemap", "no present bit");

	int fd = open("/proc/self/clear_refs", O_WRONLY);
	write(fd, "4", 1);
	close(fd);
	page[0] = 2;
	if ((pagemap_word(page) >> 55) & 1)
		ok("mem_dirty_track", 0);
	else
		bad("mem_dirty_track", "no soft-dirty bit");

	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API };
	if (uffd >= 0 && ioctl(uffd, UFFDIO_API, &api) == 0) {
		ok("uffd", 0);
		struct uffdio_register reg = { .range = { (uintptr_t)page, 4096 }, .mode = UFFDIO_REGISTER_MODE_WP };
		struct uffdio_writeprotect wp = { .range = { (uintptr_t)page, 4096 }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
		if ((api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) && ioctl(uffd, UFFDIO_REGISTER, &reg) == 0 &&
		    ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
			ok("uffd_wp", 0);
		else
			bad("uffd_wp", strerror(errno));
		close(uffd);
	} else {
		bad("uffd", strerror(errno));
		bad("uffd_wp", "no userfaultfd");
	}

	/* PAGEMAP_SCAN: _IOWR('f', 16, struct pm_scan_arg) */
	char *scan = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	scan[0] = 1;
	uint64_t regions[3 * 4];
	uint64_t arg[12] = { 96, 0, (uintptr_t)scan, (uintptr_t)scan + 4 * 4096, 0, (uintptr_t)regions, 4, 0, 0, 1 << 3, 0, 1 << 3 };
	fd = open("/proc/self/pagemap", O_RDONLY);
	long n = ioctl(fd, _IOWR('f', 16, char[96]), arg);
	close(fd);
	if (n == 1 && regions[0] == (uintptr_t)scan)
		ok("pagemap_scan", 0);
	else
		bad("pagemap_scan", strerror(errno));
}

static void probe_namespaces(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWTIME) ? 1 : 0);
	int status;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		ok("timens", 0);
	else
		bad("timens", "unshare(CLONE_NEWTIME) failed");
}

extern const unsigned int __rseq_size __attribute__((weak));

static void probe_cpu(void)
{
	if (syscall(SYS_rseq, NULL, 0, 0, 0) < 0 && errno == EINVAL)
		ok("rseq", &__rseq_size ? (long)__rseq_size : 0);
	else
		bad("rseq", strerror(errno));

	unsigned a, b, c, d;
	int cpu_shstk = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 7));
	unsigned long status = 0;
	int kernel_shstk = syscall(SYS_arch_prctl, 0x5005 /* ARCH_SHSTK_STATUS */, &status) == 0;
	if (cpu_shstk && kernel_shstk)
		ok("shadow_stack", 0);
	else
		bad("shadow_stack", cpu_shstk ? "kernel" : "cpu");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	probe_ptrace();
	probe_clone3_set_tid();
	probe_files();
	probe_memory();
	probe_namespaces();
	probe_cpu();
	return 0;
}

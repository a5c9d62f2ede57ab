/*
 * Seccomp filters for the restore tests:
 *
 *   main    a worker thread, then filter A (uname -> EPERM) with TSYNC: both threads share it;
 *   child   inherits A, adds B (getppid -> EACCES), starts a thread (which gets A and B), then
 *           adds D (getsid -> EXDEV) in its main thread only: its threads have different chains;
 *   strict  a child in strict mode (SECCOMP_SET_MODE_STRICT), blocked in read() on a pipe.
 *
 * Prints "child C strict S" and signals ready. On SIGTERM every thread checks that the calls its
 * filters refuse are still refused with their errno and the others still work; the strict child
 * is sent a byte, writes "strict ok", then makes a forbidden call and must die of SIGKILL.
 * Prints PASS, or FAIL and what differs.
 */
#include "common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile sig_atomic_t woken;
static void on_usr1(int sig) { (void)sig; woken = 1; }

/* A filter that makes syscall `nr` fail with `err` and allows everything else. */
static int deny(int nr, int err, unsigned flags)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = insns };
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* 0 when syscall `nr` fails with `err` (or succeeds when `err` is 0). */
static int expect(long nr, int err)
{
	errno = 0;
	long r = syscall(nr, 0, 0, 0);
	return err == 0 ? (r < 0) : !(r == -1 && errno == err);
}

static int filtered_a(void) { return expect(SYS_uname, EPERM); }

static void wait_usr1(void)
{
	sigset_t waitmask = block_for_wait(SIGUSR1);
	wait_flag(&woken, &waitmask);
}

static void *main_worker(void *arg)
{
	(void)arg;
	wait_usr1();
	return (void *)(intptr_t)(filtered_a() ? 1 : 0);
}

static void *child_worker(void *arg)
{
	(void)arg;
	wait_usr1();
	int bad = filtered_a() || expect(SYS_getppid, EACCES) || expect(SYS_getsid, 0);
	return (void *)(intptr_t)bad;
}

static int child_main(void)
{
	if (deny(SYS_getppid, EACCES, 0))
		return 10;
	pthread_t th;
	pthread_create(&th, NULL, child_worker, NULL);
	if (deny(SYS_getsid, EXDEV, 0))
		return 11;
	wait_usr1();
	pthread_kill(th, SIGUSR1);
	void *worker_bad;
	pthread_join(th, &worker_bad);
	if (filtered_a())
		return 12;
	if (expect(SYS_getppid, EACCES))
		return 13;
	if (expect(SYS_getsid, EXDEV))
		return 14;
	return worker_bad ? 15 : 0;
}

static void strict_main(int in)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL))
		_exit(20);
	char c;
	if (read(in, &c, 1) != 1)
		syscall(SYS_exit, 21);
	static const char ok[] = "strict ok\n";
	write(1, ok, sizeof ok - 1);
	syscall(SYS_getpid); /* refused in strict mode: SIGKILL */
	syscall(SYS_exit, 22);
}

int main(void)
{
	catch_term();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	int strict_pipe[2];
	if (pipe(strict_pipe))
		return 2;
	pid_t strict = fork();
	if (strict == 0) {
		close(strict_pipe[1]);
		strict_main(strict_pipe[0]);
	}
	close(strict_pipe[0]);
	pthread_t th;
	pthread_create(&th, NULL, main_worker, NULL);
	if (deny(SYS_uname, EPERM, SECCOMP_FILTER_FLAG_TSYNC))
		return 3;
	pid_t child = fork();
	if (child == 0)
		return child_main();
	usleep(100000); /* the children install their filters */
	say("child %d strict %d\n", child, strict);

	sigset_t waitmask = block_for_wait(SIGTERM);
	signal_ready();
	wait_flag(&terminated, &waitmask);

	pthread_kill(th, SIGUSR1);
	void *worker_bad;
	pthread_join(th, &worker_bad);
	if (worker_bad) {
		say("FAIL main's worker: uname is not refused\n");
		return 1;
	}
	if (filtered_a() || expect(SYS_getppid, 0) || expect(SYS_getsid, 0)) {
		say("FAIL main: its filter does not act as before\n");
		return 1;
	}
	kill(child, SIGUSR1);
	int status;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say("FAIL child: status %#x\n", status);
		return 1;
	}
	if (write(strict_pipe[1], "x", 1) != 1)
		return 4;
	waitpid(strict, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		say("FAIL strict child: status %#x\n", status);
		return 1;
	}
	say("PASS\n");
	return 0;
}

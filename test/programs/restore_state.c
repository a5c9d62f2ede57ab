/*
 * Per-task and per-thread state for the restore tests: an interval timer (ITIMER_REAL, 1000 s),
 * a sigaltstack in each thread, a blocked real-time signal queued to the process with a value and
 * another queued to the worker thread, a lowered RLIMIT_NOFILE, a nice value, a umask, a working
 * directory, the worker's name, a TLS variable in each thread (fs_base), and a worker that must be
 * joinable (its clear-tid address). Signals ready; on SIGTERM the main thread wakes the worker
 * (SIGUSR1), each checks its own state, and it prints PASS or FAIL and what differs.
 */
#include "common.h"
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

static __thread long tls_value;
static volatile sig_atomic_t wake;
static char main_stack[65536], worker_stack[65536];
static const char *worker_failure;

static void on_usr1(int sig) { (void)sig; wake = 1; }

static const char *check_altstack(void *sp)
{
	stack_t ss;
	if (sigaltstack(NULL, &ss) || ss.ss_sp != sp || ss.ss_size != sizeof main_stack || ss.ss_flags != 0)
		return "sigaltstack";
	return NULL;
}

/* Takes `sig` off the pending queue; its value must be `value`. */
static const char *check_pending(int sig, int value)
{
	sigset_t set;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigtimedwait(&set, &si, &zero) != sig || si.si_code != SI_QUEUE || si.si_value.sival_int != value)
		return "pending signal";
	return NULL;
}

static void *worker(void *arg)
{
	(void)arg;
	tls_value = 0x7711;
	prctl(PR_SET_NAME, "worker");
	stack_t ss = { .ss_sp = worker_stack, .ss_size = sizeof worker_stack, .ss_flags = 0 };
	sigaltstack(&ss, NULL);
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 2);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGUSR1);
	wait_flag(&wake, &waitmask);
	char comm[32] = { 0 };
	prctl(PR_GET_NAME, comm);
	if (tls_value != 0x7711)
		worker_failure = "worker TLS";
	else if (strcmp(comm, "worker") != 0)
		worker_failure = "worker name";
	else if (check_altstack(worker_stack) != NULL)
		worker_failure = "worker sigaltstack";
	else
		worker_failure = check_pending(SIGRTMIN + 2, 43);
	return NULL;
}

int main(void)
{
	catch_term();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	tls_value = 0x5150;
	struct itimerval it = { { 1000, 0 }, { 1000, 0 } };
	setitimer(ITIMER_REAL, &it, NULL);
	stack_t ss = { .ss_sp = main_stack, .ss_size = sizeof main_stack, .ss_flags = 0 };
	sigaltstack(&ss, NULL);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = 512;
	setrlimit(RLIMIT_NOFILE, &rl);
	setpriority(PRIO_PROCESS, 0, 5);
	umask(027);
	if (chdir("/tmp"))
		return 3;

	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 1);
	sigaddset(&block, SIGRTMIN + 2);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	waitmask = block; /* waits for SIGTERM alone: the queued signals stay pending */
	sigdelset(&waitmask, SIGTERM);
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	union sigval v = { .sival_int = 42 };
	sigqueue(getpid(), SIGRTMIN + 1, v);
	v.sival_int = 43;
	pthread_sigqueue(t, SIGRTMIN + 2, v);
	signal_ready();
	wait_flag(&terminated, &waitmask);

	const char *failure = NULL;
	char cwd[64];
	struct itimerval now;
	getitimer(ITIMER_REAL, &now);
	getrlimit(RLIMIT_NOFILE, &rl);
	mode_t mask = umask(0);
	if (tls_value != 0x5150)
		failure = "main TLS";
	else if (now.it_interval.tv_sec != 1000 || now.it_value.tv_sec > 1000 || now.it_value.tv_sec < 900)
		failure = "itimer";
	else if ((failure = check_altstack(main_stack)) != NULL)
		;
	else if (rl.rlim_cur != 512)
		failure = "rlimit";
	else if (getpriority(PRIO_PROCESS, 0) != 5)
		failure = "nice";
	else if (mask != 027)
		failure = "umask";
	else if (getcwd(cwd, sizeof cwd) == NULL || strcmp(cwd, "/tmp") != 0)
		failure = "cwd";
	else
		failure = check_pending(SIGRTMIN + 1, 42);
	pthread_kill(t, SIGUSR1);
	if (pthread_join(t, NULL) != 0 && failure == NULL)
		failure = "join";
	if (failure == NULL)
		failure = worker_failure;
	if (failure != NULL) {
		say("FAIL %s\n", failure);
		return 1;
	}
	say("PASS\n");
	return 0;
}

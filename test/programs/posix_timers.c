/*
 * POSIX timers for the restore tests. Timers of several clocks and notify kinds, with gaps in
 * their ids (timers created and deleted between them):
 *
 *   periodic   CLOCK_MONOTONIC           SIGEV_SIGNAL     SIGRTMIN    value 101  every 20 ms
 *   one-shot   CLOCK_REALTIME            SIGEV_SIGNAL     SIGRTMIN+1  value 202  in 4 s
 *   silent     CLOCK_BOOTTIME            SIGEV_NONE                              in 100 s
 *   to-thread  CLOCK_MONOTONIC           SIGEV_THREAD_ID  SIGRTMIN+2  value 404  every 30 ms, to the worker
 *   cpu        CLOCK_PROCESS_CPUTIME_ID  SIGEV_SIGNAL     SIGRTMIN+3  value 505  not armed
 *
 * Prints "timers P O S T C" (their ids) and signals ready. On SIGTERM it checks that each timer
 * still exists under its id and acts as before: the periodic ones keep firing with their own
 * value, id and (for the thread one) thread; the silent one counts down from less than 100 s;
 * the one-shot fires once; the cpu one fires once armed; a new timer can be created. Prints PASS,
 * or FAIL and what differs.
 */
#include "common.h"
#include <pthread.h>
#include <sys/syscall.h>

enum { PERIODIC, ONESHOT, SILENT, TO_THREAD, CPU, NTIMERS };

static timer_t timers[NTIMERS];
static volatile int fired[NTIMERS], last_value[NTIMERS], last_id[NTIMERS], last_tid[NTIMERS];
static volatile pid_t worker_tid;
static volatile int stop_worker;

static void on_timer(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int which = sig == SIGRTMIN ? PERIODIC : sig == SIGRTMIN + 1 ? ONESHOT : sig == SIGRTMIN + 2 ? TO_THREAD : CPU;
	fired[which]++;
	last_value[which] = si->si_value.sival_int;
	last_id[which] = si->si_timerid;
	last_tid[which] = (int)syscall(SYS_gettid);
}

static void *worker(void *arg)
{
	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	sigset_t only_thread;
	sigemptyset(&only_thread);
	sigaddset(&only_thread, SIGRTMIN + 2);
	pthread_sigmask(SIG_UNBLOCK, &only_thread, NULL);
	while (!stop_worker)
		pause();
	return NULL;
}

static timer_t make(clockid_t clock, int notify, int sig, int value, pid_t tid)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		ev._sigev_un._tid = tid;
	timer_t t;
	if (timer_create(clock, &ev, &t)) {
		say("FAIL timer_create: %s\n", strerror(errno));
		exit(2);
	}
	return t;
}

static void arm(timer_t t, long first_ms, long every_ms)
{
	struct itimerspec its = {
		.it_value = { first_ms / 1000, (first_ms % 1000) * 1000000 },
		.it_interval = { every_ms / 1000, (every_ms % 1000) * 1000000 },
	};
	timer_settime(t, 0, &its, NULL);
}

/* Sleeps `ms` whatever signals arrive. */
static void nap(long ms)
{
	struct timespec left = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
}

static const char *check_fires(int which, int value, int at_least)
{
	if (fired[which] < at_least)
		return "not firing";
	if (last_value[which] != value)
		return "wrong value";
	if (last_id[which] != (int)(intptr_t)timers[which])
		return "wrong timer id";
	return NULL;
}

static void fail(const char *which, const char *what)
{
	say("FAIL %s: %s (fired %d %d %d %d %d)\n", which, what, fired[0], fired[1], fired[2], fired[3], fired[4]);
	exit(1);
}

int main(void)
{
	catch_term();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_timer;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	for (int s = SIGRTMIN; s <= SIGRTMIN + 3; s++)
		sigaction(s, &sa, NULL);
	/* SIGRTMIN+2 goes to the worker only. */
	sigset_t thread_sig;
	sigemptyset(&thread_sig);
	sigaddset(&thread_sig, SIGRTMIN + 2);
	pthread_sigmask(SIG_BLOCK, &thread_sig, NULL);
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (worker_tid == 0)
		nap(1);

	timer_t gap[3];
	gap[0] = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	timers[PERIODIC] = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 101, 0);
	gap[1] = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	gap[2] = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	timers[ONESHOT] = make(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 1, 202, 0);
	timers[SILENT] = make(CLOCK_BOOTTIME, SIGEV_NONE, 0, 0, 0);
	timer_delete(gap[1]);
	timers[TO_THREAD] = make(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN + 2, 404, worker_tid);
	timers[CPU] = make(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGRTMIN + 3, 505, 0);
	timer_delete(gap[0]);
	timer_delete(gap[2]);
	arm(timers[PERIODIC], 20, 20);
	arm(timers[ONESHOT], 4000, 0);
	arm(timers[SILENT], 100000, 0);
	arm(timers[TO_THREAD], 30, 30);
	say("timers %d %d %d %d %d\n", (int)(intptr_t)timers[0], (int)(intptr_t)timers[1], (int)(intptr_t)timers[2], (int)(intptr_t)timers[3], (int)(intptr_t)timers[4]);
	nap(100);
	if (fired[PERIODIC] == 0 || fired[TO_THREAD] == 0)
		fail("before", "the periodic timers do not fire");
	signal_ready();

	sigset_t waitmask = block_for_wait(SIGTERM);
	wait_flag(&terminated, &waitmask);

	fired[PERIODIC] = fired[TO_THREAD] = 0;
	last_value[PERIODIC] = last_value[TO_THREAD] = 0;
	nap(400);
	const char *why;
	if ((why = check_fires(PERIODIC, 101, 5)))
		fail("periodic", why);
	if ((why = check_fires(TO_THREAD, 404, 3)))
		fail("to-thread", why);
	if (last_tid[TO_THREAD] != worker_tid)
		fail("to-thread", "delivered to another thread");
	struct itimerspec its;
	if (timer_gettime(timers[SILENT], &its))
		fail("silent", strerror(errno));
	if (its.it_value.tv_sec >= 100 || (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) || its.it_value.tv_sec < 80)
		fail("silent", "remaining time");
	if (timer_gettime(timers[CPU], &its) || its.it_value.tv_sec != 0 || its.it_value.tv_nsec != 0)
		fail("cpu", "not there, or armed");
	arm(timers[CPU], 5, 0);
	int64_t deadline = now_ms() + 3000;
	while (fired[CPU] == 0 && now_ms() < deadline)
		;
	if ((why = check_fires(CPU, 505, 1)))
		fail("cpu", why);
	deadline = now_ms() + 10000;
	while (fired[ONESHOT] == 0 && now_ms() < deadline)
		nap(10);
	if ((why = check_fires(ONESHOT, 202, 1)))
		fail("one-shot", why);
	nap(50);
	if (fired[ONESHOT] != 1)
		fail("one-shot", "fired more than once");
	timer_t fresh;
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	if (timer_create(CLOCK_MONOTONIC, &none, &fresh))
		fail("new timer", strerror(errno));
	for (int i = 0; i < NTIMERS; i++)
		if (fresh == timers[i])
			fail("new timer", "took the id of a restored one");
	stop_worker = 1;
	pthread_kill(th, SIGRTMIN + 2);
	say("PASS\n");
	return 0;
}

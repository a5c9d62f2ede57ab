/*
 * PIDs as the task sees them, for the restore tests (--unshare pid). A child and a thread; prints
 * "pids MAIN CHILD THREAD" and signals ready. On SIGTERM each checks that it still has its PID
 * (getpid, gettid), that /proc/self and the pid field of /proc/self/stat say the same (a /proc of
 * its own namespace), that the child's parent is main and main can signal it by its PID; main
 * reaps the child (exit code 0) and prints PASS, or FAIL and what differs.
 */
#include "common.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static pid_t main_pid, child_pid, thread_tid;
static volatile int thread_go, thread_ok;

/* 0 when /proc/self (or /proc/thread-self) names `id` and /proc/self/stat starts with `pid`. */
static int proc_agrees(pid_t pid, pid_t tid)
{
	char link[64], want[64], buf[64];
	ssize_t n = readlink(tid == pid ? "/proc/self" : "/proc/thread-self", link, sizeof link - 1);
	if (n < 0)
		return 1;
	link[n] = 0;
	if (tid == pid)
		snprintf(want, sizeof want, "%d", pid);
	else
		snprintf(want, sizeof want, "%d/task/%d", pid, tid);
	if (strcmp(link, want) != 0)
		return 2;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f == NULL || fgets(buf, sizeof buf, f) == NULL)
		return 3;
	fclose(f);
	return atoi(buf) == pid ? 0 : 4;
}

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	while (!thread_go)
		usleep(1000);
	thread_ok = (pid_t)syscall(SYS_gettid) == thread_tid && proc_agrees(getpid(), thread_tid) == 0 ? 1 : 2;
	return NULL;
}

static void wait_term(void)
{
	sigset_t waitmask = block_for_wait(SIGTERM);
	wait_flag(&terminated, &waitmask);
}

int main(void)
{
	catch_term();
	main_pid = getpid();
	child_pid = fork();
	if (child_pid == 0) {
		pid_t me = getpid();
		wait_term();
		_exit(getpid() == me && getppid() == main_pid && proc_agrees(me, me) == 0 ? 0 : 1);
	}
	pthread_t th;
	pthread_create(&th, NULL, thread_main, NULL);
	while (thread_tid == 0)
		usleep(1000);
	say("pids %d %d %d\n", main_pid, child_pid, thread_tid);
	signal_ready();
	wait_term();

	const char *fail = NULL;
	if (getpid() != main_pid)
		fail = "getpid() changed";
	else if (proc_agrees(main_pid, main_pid) != 0)
		fail = "/proc/self is not this task";
	else if (kill(child_pid, SIGTERM) != 0)
		fail = "the child cannot be signalled by its pid";
	thread_go = 1;
	pthread_join(th, NULL);
	if (!fail && thread_ok != 1)
		fail = "the thread's tid or /proc/thread-self changed";
	int status = 0;
	if (!fail && (waitpid(child_pid, &status, 0) != child_pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
		fail = "the child's pid, parent or /proc changed";
	if (fail) {
		say("FAIL %s\n", fail);
		return 1;
	}
	say("PASS\n");
	return 0;
}

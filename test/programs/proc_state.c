/*
 * A target with known state for the /proc parser tests. It sets up the state, writes
 * "ready <data>" to the file named by argv[1], and waits for SIGTERM.
 *   - 2 extra threads; a child process (sleep via fork)
 *   - umask 027, RLIMIT_NOFILE soft 777, SIGUSR1 handled, SIGUSR2 ignored, SIGHUP blocked + pending
 *   - fd 10: a pipe read end; fd 11: an eventfd with count 5; fd 12: a file opened at offset 42
 *   - a POSIX timer (CLOCK_MONOTONIC, SIGRTMIN+1)
 *   - a private anonymous mapping of 4 pages with pages 0 and 2 touched
 *   - a mapping of a file whose name has a space, then unlinked (" (deleted)")
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t done;
static void on_term(int sig) { (void)sig; done = 1; }
static void on_usr1(int sig) { (void)sig; }
static void *idle(void *arg) { (void)arg; for (;;) pause(); return NULL; }

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	umask(027);
	struct rlimit rl = { 777, 4096 };
	setrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(getpid(), SIGHUP);

	int p[2];
	pipe(p);
	dup2(p[0], 10);
	dup2(eventfd(5, 0), 11);
	int f = open(argv[2], O_RDWR | O_CREAT, 0600);
	write(f, "0123456789012345678901234567890123456789012345678901234567890123456789", 70);
	lseek(f, 42, SEEK_SET);
	dup2(f, 12);

	timer_t timer;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1 };
	timer_create(CLOCK_MONOTONIC, &sev, &timer);
	struct itimerspec its = { .it_value = { 1000, 0 } };
	timer_settime(timer, 0, &its, NULL);

	char *anon = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	anon[0] = 1;
	anon[2 * 4096] = 1;

	char spaced[512];
	snprintf(spaced, sizeof(spaced), "%s with space", argv[2]);
	int g = open(spaced, O_RDWR | O_CREAT, 0600);
	ftruncate(g, 4096);
	void *mapped = mmap(NULL, 4096, PROT_READ, MAP_SHARED, g, 0);
	close(g);
	unlink(spaced);

	pthread_t t;
	pthread_create(&t, NULL, idle, NULL);
	pthread_create(&t, NULL, idle, NULL);
	pid_t child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}

	FILE *ready = fopen(argv[1], "w");
	fprintf(ready, "ready %lx %lx %d\n", (unsigned long)anon, (unsigned long)mapped, child);
	fclose(ready);
	while (!done)
		pause();
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}

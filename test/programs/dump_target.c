/*
 * A target for the dump and restore tests: memory with a known pattern (argv[1] MiB, default 4),
 * two extra threads, a SIGUSR1 handler and SIGUSR2 blocked, a pipe with data (fds 3/4), a file at
 * offset 42 (fd 5, argv[2] when given). Prints "pattern <address> <bytes>" then signals ready; on
 * SIGTERM it checks all of that (the pattern, its threads, the handler, the mask, the pipe's data,
 * the file's offset) and prints PASS, or FAIL and what differs.
 */
#include "common.h"
#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>

static void on_usr1(int sig) { (void)sig; }
/* Extra threads block SIGTERM, so that it always reaches the main thread (the one that checks). */
static void *idle(void *arg)
{
	(void)arg;
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	for (;;)
		pause();
	return NULL;
}

static int threads(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

/* Everything but the pattern: threads, handler, mask, the pipe's data, the file's offset. */
static int check_state(int with_file)
{
	struct sigaction sa;
	sigset_t mask;
	char buf[16] = { 0 };
	if (threads() != 3)
		return say("FAIL threads %d\n", threads()), 1;
	if (sigaction(SIGUSR1, NULL, &sa) || sa.sa_handler != on_usr1 || !(sa.sa_flags & SA_RESTART))
		return say("FAIL SIGUSR1 handler\n"), 1;
	if (sigprocmask(SIG_BLOCK, NULL, &mask) || !sigismember(&mask, SIGUSR2))
		return say("FAIL SIGUSR2 not blocked\n"), 1;
	fcntl(3, F_SETFL, O_NONBLOCK);
	if (read(3, buf, sizeof buf) != 7 || memcmp(buf, "dump me", 7) != 0)
		return say("FAIL pipe data '%s'\n", buf), 1;
	if (with_file && lseek(5, 0, SEEK_CUR) != 42)
		return say("FAIL file offset %ld\n", (long)lseek(5, 0, SEEK_CUR)), 1;
	say("PASS\n");
	return 0;
}

int main(int argc, char **argv)
{
	size_t bytes = (size_t)(argc > 1 ? atoi(argv[1]) : 4) << 20;
	catch_term();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);

	uint64_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < bytes / 8; i++)
		mem[i] = 0x5eed000000000000ull ^ (i * 0x9e3779b97f4a7c15ull);

	int p[2];
	if (pipe(p) || p[0] != 3)
		return 3;
	write(4, "dump me", 7);
	if (argc > 2) {
		int f = open(argv[2], O_RDWR | O_CREAT, 0600);
		write(f, "0123456789012345678901234567890123456789012345678901234567890123456789", 70);
		lseek(f, 42, SEEK_SET);
	}
	pthread_t t;
	pthread_create(&t, NULL, idle, NULL);
	pthread_create(&t, NULL, idle, NULL);
	say("pattern %lx %zu\n", (unsigned long)mem, bytes);
	sigset_t waitmask = block_for_wait(SIGTERM);
	signal_ready();
	wait_flag(&terminated, &waitmask);
	for (size_t i = 0; i < bytes / 8; i++) {
		if (mem[i] != (0x5eed000000000000ull ^ (i * 0x9e3779b97f4a7c15ull))) {
			say("FAIL at %zu\n", i);
			return 1;
		}
	}
	return check_state(argc > 2);
}

/*
 * Open files for the fd-dump tests: argv[1] is a data file path. Prints "child <pid>" once its
 * child is running, then signals ready and waits for SIGTERM.
 *   fd 3/4: a pipe with "hello pipe" buffered; fd 5: eventfd(7, EFD_NONBLOCK)
 *   fd 6: the data file, O_RDWR|O_CLOEXEC, at offset 42, owned (F_SETOWN) by us with SIGIO=SIGUSR1
 *   fd 7: dup of fd 6 (same description); fd 8: /usr/bin/true read-only
 *   a child that shares all of them (fork)
 */
#include "common.h"
#include <sys/eventfd.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	catch_term();
	int p[2];
	if (pipe(p) || p[0] != 3 || p[1] != 4)
		return 3;
	if (write(4, "hello pipe", 10) != 10)
		return 4;
	if (eventfd(7, EFD_NONBLOCK) != 5)
		return 5;
	int f = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f != 6)
		return 6;
	char block[100];
	memset(block, 'x', sizeof block);
	write(f, block, sizeof block);
	lseek(f, 42, SEEK_SET);
	fcntl(f, F_SETOWN, getpid());
	fcntl(f, F_SETSIG, SIGUSR1);
	if (dup(f) != 7)
		return 7;
	if (open("/usr/bin/true", O_RDONLY) != 8)
		return 8;
	pid_t child = fork();
	if (child == 0) {
		while (!terminated)
			pause();
		return 0;
	}
	say("child %d\n", child);
	signal_ready();
	while (!terminated)
		pause();
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	return 0;
}

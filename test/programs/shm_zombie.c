/*
 * Shared anonymous memory and a zombie, for the dump tests: 8 MiB MAP_SHARED|MAP_ANONYMOUS with
 * pages 0..99 written by the parent and pages 200..209 by a child that keeps it mapped; page 100..199
 * never touched (holes); a second child exits with code 7 and stays a zombie. Prints
 * "shm <address> child <pid> zombie <pid>", signals ready, and on SIGTERM checks the memory, reaps
 * the zombie (exit code 7) and prints PASS.
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGES 2048

int main(void)
{
	catch_term();
	unsigned char *shm = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	for (int p = 0; p < 100; p++)
		memset(shm + p * 4096, p + 1, 4096);
	pid_t child = fork();
	if (child == 0) {
		for (int p = 200; p < 210; p++)
			memset(shm + p * 4096, 0xc0 + (p - 200), 4096);
		while (!terminated)
			pause();
		return 0;
	}
	pid_t zombie = fork();
	if (zombie == 0)
		_exit(7);
	while (shm[209 * 4096] != 0xc9)
		usleep(1000);
	usleep(20000); /* let the zombie exit */
	say("shm %lx child %d zombie %d\n", (unsigned long)shm, child, zombie);
	signal_ready();
	while (!terminated)
		pause();
	for (int p = 0; p < 100; p++)
		if (shm[p * 4096] != p + 1 || shm[p * 4096 + 4095] != p + 1) { say("FAIL page %d\n", p); return 1; }
	for (int p = 200; p < 210; p++)
		if (shm[p * 4096] != 0xc0 + (p - 200)) { say("FAIL page %d\n", p); return 1; }
	int status;
	if (waitpid(zombie, &status, 0) != zombie || !WIFEXITED(status) || WEXITSTATUS(status) != 7) { say("FAIL zombie\n"); return 1; }
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	say("PASS\n");
	return 0;
}

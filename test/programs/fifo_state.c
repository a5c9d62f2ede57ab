/*
 * Named pipes for the fd-dump tests; argv[1] is a fifo path (made by the test), argv[2] a path for
 * a second fifo that the program makes and deletes.
 *   fd 3: argv[1] opened O_RDWR, with "fifo data 123" buffered in it
 *   fd 4: argv[1] opened O_WRONLY|O_NONBLOCK (another open file of the same fifo)
 *   fd 5: argv[2] opened O_RDWR, then unlinked (a ghost fifo), nothing buffered
 * Signals ready, and on SIGTERM reads the buffered bytes back from fd 3 and prints PASS.
 */
#include "common.h"
#include <sys/stat.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	catch_term();
	if (open(argv[1], O_RDWR) != 3 || write(3, "fifo data 123", 13) != 13)
		return 3;
	if (open(argv[1], O_WRONLY | O_NONBLOCK) != 4)
		return 4;
	if (mkfifo(argv[2], 0640) || open(argv[2], O_RDWR) != 5 || unlink(argv[2]))
		return 5;
	signal_ready();
	while (!terminated)
		pause();
	char buf[64] = { 0 };
	if (read(3, buf, sizeof buf) != 13 || memcmp(buf, "fifo data 123", 13)) {
		say("FAIL: fifo data '%s'\n", buf);
		return 1;
	}
	say("PASS\n");
	return 0;
}

/* Holds a unix socketpair at fds 3 and 4, for tests of fd kinds the dump refuses. */
#include "common.h"
#include <sys/socket.h>

int main(void)
{
	catch_term();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || sv[0] != 3)
		return 3;
	signal_ready();
	while (!terminated)
		pause();
	return 0;
}

/*
 * An established TCP connection at fd 3, to 127.0.0.1:argv[1] (the test listens there). Signals
 * ready and waits for SIGTERM; then sends "ok" over it and prints PASS.
 */
#include "common.h"
#include <netinet/in.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	catch_term();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (socket(AF_INET, SOCK_STREAM, 0) != 3 || connect(3, (struct sockaddr *)&sa, sizeof sa))
		return 3;
	signal_ready();
	while (!terminated)
		pause();
	if (send(3, "ok", 2, 0) != 2) {
		say("FAIL send: %s\n", strerror(errno));
		return 1;
	}
	say("PASS\n");
	return 0;
}

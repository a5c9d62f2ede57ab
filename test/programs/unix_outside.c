/*
 * A Unix socket at fd 3 connected to a peer this tree does not hold (the test's own socket):
 *   unix_outside stream PATH   connects a stream socket to the listener at PATH
 *   unix_outside dgram PATH    connects a datagram socket to the datagram socket at PATH
 * Signals ready and waits for SIGTERM; then checks it is still connected to PATH and sends
 * "still here" over it, and prints PASS.
 */
#include "common.h"
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	catch_term();
	int stream = strcmp(argv[1], "stream") == 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strncpy(sa.sun_path, argv[2], sizeof sa.sun_path - 1);
	if (socket(AF_UNIX, stream ? SOCK_STREAM : SOCK_DGRAM, 0) != 3)
		return 3;
	if (connect(3, (struct sockaddr *)&sa, sizeof sa))
		return 4;
	signal_ready();
	while (!terminated)
		pause();
	struct sockaddr_un peer;
	socklen_t len = sizeof peer;
	memset(&peer, 0, sizeof peer);
	if (getpeername(3, (struct sockaddr *)&peer, &len) || strcmp(peer.sun_path, argv[2])) {
		say("FAIL peer %s\n", peer.sun_path);
		return 1;
	}
	if (send(3, "still here", 10, 0) != 10) {
		say("FAIL send: %s\n", strerror(errno));
		return 1;
	}
	say("PASS\n");
	return 0;
}

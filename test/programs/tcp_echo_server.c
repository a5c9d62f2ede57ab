/*
 * A TCP echo server for the connection tests: listens on 127.0.0.1 or ::1 (argv[1]: 4 or 6) at
 * port argv[2], accepts argv[3] clients, then echoes every byte each one sends, slowly (at most
 * 4 KiB per connection every millisecond), so that data waits in its queues both ways when it is
 * frozen. The listener stays open. Prints "accepted N" once every client is in, and on SIGTERM
 * "PASS echoed N bytes".
 */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define MAX_CLIENTS 128

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR && !terminated)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int v6 = atoi(argv[1]) == 6, port = atoi(argv[2]), want = atoi(argv[3]);
	if (want < 1 || want > MAX_CLIENTS)
		return 2;
	catch_term();
	int ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (v6 ? bind(ls, (struct sockaddr *)&a6, sizeof a6) : bind(ls, (struct sockaddr *)&a4, sizeof a4)) {
		say("FAIL bind: %s\n", strerror(errno));
		return 1;
	}
	if (listen(ls, MAX_CLIENTS)) {
		say("FAIL listen: %s\n", strerror(errno));
		return 1;
	}
	signal_ready();
	struct pollfd pfd[MAX_CLIENTS];
	for (int i = 0; i < want; i++) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			say("FAIL accept: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
		pfd[i] = (struct pollfd){ .fd = c, .events = POLLIN };
	}
	say("accepted %d\n", want);
	long long echoed = 0;
	char buf[4096];
	while (!terminated) {
		int n = poll(pfd, (nfds_t)want, 100);
		if (n < 0 && errno != EINTR) {
			say("FAIL poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; n > 0 && i < want; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = read(pfd[i].fd, buf, sizeof buf);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				say("FAIL connection %d: %s\n", i, got == 0 ? "closed by the peer" : strerror(errno));
				return 1;
			}
			if (write_all(pfd[i].fd, buf, (size_t)got)) {
				if (terminated)
					break;
				say("FAIL write to connection %d: %s\n", i, strerror(errno));
				return 1;
			}
			echoed += got;
		}
		usleep(1000);
	}
	say("PASS echoed %lld bytes\n", echoed);
	return 0;
}

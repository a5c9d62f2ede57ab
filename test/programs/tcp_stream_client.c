/*
 * A TCP client for the connection tests: connects to 127.0.0.1 or ::1 (argv[1]: 4 or 6) at port
 * argv[2] (an echo server outside the tree), then sends a numbered byte stream (byte i is
 * i * 7 + 3 mod 256) and checks every byte echoed back against it. Prints "connected"; on SIGTERM
 * it stops sending, reads until everything sent has come back, and prints
 * "PASS sent N received N", or FAIL with the first byte that differs or the error.
 */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static unsigned char expected(long long i) { return (unsigned char)(i * 7 + 3); }

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int v6 = atoi(argv[1]) == 6, port = atoi(argv[2]);
	catch_term();
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (v6 ? connect(s, (struct sockaddr *)&a6, sizeof a6) : connect(s, (struct sockaddr *)&a4, sizeof a4)) {
		say("FAIL connect: %s\n", strerror(errno));
		return 1;
	}
	say("connected\n");
	signal_ready();
	long long sent = 0, received = 0;
	unsigned char out[8192], in[8192];
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN | (terminated ? 0 : POLLOUT) };
		if (terminated && received == sent)
			break;
		int n = poll(&p, 1, 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say("FAIL poll: %s\n", strerror(errno));
			return 1;
		}
		if (p.revents & POLLIN) {
			ssize_t got = recv(s, in, sizeof in, MSG_DONTWAIT);
			if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
				say("FAIL recv after %lld bytes: %s\n", received, got == 0 ? "closed by the peer" : strerror(errno));
				return 1;
			}
			for (ssize_t k = 0; k < got; k++, received++) {
				if (in[k] != expected(received)) {
					say("FAIL byte %lld is %u, not %u\n", received, in[k], expected(received));
					return 1;
				}
			}
		}
		if (!terminated && (p.revents & POLLOUT) && sent - received < (1 << 20)) {
			for (size_t k = 0; k < sizeof out; k++)
				out[k] = expected(sent + (long long)k);
			ssize_t put = send(s, out, sizeof out, MSG_DONTWAIT);
			if (put < 0 && errno != EAGAIN && errno != EINTR) {
				say("FAIL send after %lld bytes: %s\n", sent, strerror(errno));
				return 1;
			}
			if (put > 0)
				sent += put;
			usleep(500);
		}
	}
	say("PASS sent %lld received %lld\n", sent, received);
	return 0;
}

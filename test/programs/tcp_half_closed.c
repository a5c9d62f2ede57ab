/*
 * A TCP client that half-closes its connection, for the half-closed dump/restore tests. It
 * connects to 127.0.0.1 or ::1 (argv[1]: 4 or 6) at port argv[2] (a server outside the tree) and
 * does what argv[3] says; every byte either way is the numbered stream (byte i is i * 7 + 3 mod
 * 256), checked on arrival. Each mode gets the connection into its state, prints one line, signals
 * ready, and waits for SIGUSR1 (the checkpoint and restore happen meanwhile) before finishing:
 *
 *   shut-read   shutdown(SHUT_WR) at once ("shut"; FIN_WAIT2 once the server acks), then reads
 *               until EOF: "PASS read R".
 *   read-write  waits ("connected"; CLOSE_WAIT once the server closes its side), then reads until
 *               EOF and sends argv[4] bytes, closes: "PASS read R wrote W".
 *   fill-shut   writes until the buffers are full (the server does not read), then
 *               shutdown(SHUT_WR) ("shut wrote W"; FIN_WAIT1, or CLOSING once the server closes its
 *               side), then reads until EOF: "PASS wrote W read R".
 *   eof-fill-shut  reads until EOF, then fills and shuts down as fill-shut ("shut wrote W read R";
 *               LAST_ACK); after SIGUSR1: "PASS wrote W read R".
 *   connect-wait   a non-blocking connect that the server does not answer yet ("connecting";
 *               SYN_SENT); after SIGUSR1, waits (10 s at most) for it to complete: "PASS connected".
 *
 * Errors print "FAIL ..." and exit 1.
 */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

static unsigned char expected(long long i) { return (unsigned char)(i * 7 + 3); }

static volatile sig_atomic_t go;
static void on_usr1(int sig) { (void)sig; go = 1; }

/* Reads until EOF, checking the stream; returns the count. */
static long long read_to_eof(int s)
{
	unsigned char in[8192];
	long long n = 0;
	for (;;) {
		ssize_t got = recv(s, in, sizeof in, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			say("FAIL recv after %lld bytes: %s\n", n, strerror(errno));
			exit(1);
		}
		if (got == 0)
			return n;
		for (ssize_t k = 0; k < got; k++, n++) {
			if (in[k] != expected(n)) {
				say("FAIL byte %lld is %u, not %u\n", n, in[k], expected(n));
				exit(1);
			}
		}
	}
}

/* Sends the stream from byte `from` until `to` (blocking) or, with to < 0, until the buffers stay full. */
static long long send_stream(int s, long long from, long long to)
{
	unsigned char out[8192];
	long long n = from;
	int full = 0;
	while (to < 0 ? full < 3 : n < to) {
		size_t len = sizeof out;
		if (to >= 0 && (long long)len > to - n)
			len = (size_t)(to - n);
		for (size_t k = 0; k < len; k++)
			out[k] = expected(n + (long long)k);
		ssize_t put = send(s, out, len, to < 0 ? MSG_DONTWAIT | MSG_NOSIGNAL : MSG_NOSIGNAL);
		if (put < 0 && errno == EAGAIN) {
			full++;
			usleep(100 * 1000);
			continue;
		}
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0) {
			say("FAIL send after %lld bytes: %s\n", n, strerror(errno));
			exit(1);
		}
		full = 0;
		n += put;
	}
	return n;
}

static void shut_wr(int s)
{
	if (shutdown(s, SHUT_WR)) {
		say("FAIL shutdown: %s\n", strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int v6 = atoi(argv[1]) == 6, port = atoi(argv[2]);
	const char *mode = argv[3];
	sigset_t waitmask = block_for_wait(SIGUSR1);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	int opening = strcmp(mode, "connect-wait") == 0;
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | (opening ? SOCK_NONBLOCK : 0), 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if ((v6 ? connect(s, (struct sockaddr *)&a6, sizeof a6) : connect(s, (struct sockaddr *)&a4, sizeof a4)) && !(opening && errno == EINPROGRESS)) {
		say("FAIL connect: %s\n", strerror(errno));
		return 1;
	}

	if (strcmp(mode, "shut-read") == 0) {
		shut_wr(s);
		say("shut\n");
		signal_ready();
		wait_flag(&go, &waitmask);
		long long r = read_to_eof(s);
		close(s);
		say("PASS read %lld\n", r);
	} else if (strcmp(mode, "read-write") == 0) {
		long long w = argc > 4 ? atoll(argv[4]) : 0;
		say("connected\n");
		signal_ready();
		wait_flag(&go, &waitmask);
		long long r = read_to_eof(s);
		send_stream(s, 0, w);
		close(s);
		say("PASS read %lld wrote %lld\n", r, w);
	} else if (strcmp(mode, "fill-shut") == 0) {
		long long w = send_stream(s, 0, -1);
		shut_wr(s);
		say("shut wrote %lld\n", w);
		signal_ready();
		wait_flag(&go, &waitmask);
		long long r = read_to_eof(s);
		close(s);
		say("PASS wrote %lld read %lld\n", w, r);
	} else if (strcmp(mode, "eof-fill-shut") == 0) {
		long long r = read_to_eof(s);
		long long w = send_stream(s, 0, -1);
		shut_wr(s);
		say("shut wrote %lld read %lld\n", w, r);
		signal_ready();
		wait_flag(&go, &waitmask);
		close(s);
		say("PASS wrote %lld read %lld\n", w, r);
	} else if (opening) {
		say("connecting\n");
		signal_ready();
		wait_flag(&go, &waitmask);
		struct pollfd p = { .fd = s, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof err;
		if (poll(&p, 1, 10000) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			say("FAIL connect: %s\n", err ? strerror(err) : "not completed");
			return 1;
		}
		say("PASS connected\n");
	} else {
		say("FAIL unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}

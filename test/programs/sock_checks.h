/*
 * Helpers of the socket test programs (sockets_state.c, unix_state.c): the first failure kept
 * for the verdict, socket set-up that exits on error, and checks of what is queued.
 */
#ifndef CRIU_TS_TEST_SOCK_CHECKS_H
#define CRIU_TS_TEST_SOCK_CHECKS_H
#include "common.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The first failure seen, printed as FAIL at the end. */
static char failure[512];

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	if (failure[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(failure, sizeof failure, fmt, ap);
	va_end(ap);
}

/* Exits when a socket did not land on the fd number the layout wants. */
static void expect_fd(int got, int want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "%s: got fd %d, want %d (%s)\n", what, got, want, strerror(errno));
		exit(3);
	}
}

/* Fills `sa` with a path name or (abstract) an abstract name; returns its length. */
static socklen_t unix_addr(struct sockaddr_un *sa, const char *path, int abstract)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (abstract) {
		strncpy(sa->sun_path + 1, path, sizeof sa->sun_path - 2);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path);
	}
	strncpy(sa->sun_path, path, sizeof sa->sun_path - 1);
	return sizeof *sa;
}

static void sendall(int fd, const char *data, size_t len)
{
	if (send(fd, data, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fprintf(stderr, "send on %d: %s\n", fd, strerror(errno));
		exit(4);
	}
}

/* setsockopt of an int; exits on failure. */
static void setint(int fd, int level, int name, int value)
{
	if (setsockopt(fd, level, name, &value, sizeof value)) {
		perror("setsockopt");
		exit(5);
	}
}

/* getsockopt of an int; -1 when it fails. */
static int getint(int fd, int level, int name)
{
	int value = -1;
	socklen_t len = sizeof value;
	if (getsockopt(fd, level, name, &value, &len))
		return -1;
	return value;
}

/* Reads exactly `want` from a stream socket, then checks nothing more is queued (or, with
 * `at_end`, that the stream ends there). */
static void check_stream_to(int fd, const char *want, int at_end)
{
	char buf[256];
	size_t got = 0, len = strlen(want);
	while (got < len) {
		ssize_t n = recv(fd, buf + got, sizeof buf - got, MSG_DONTWAIT);
		if (n <= 0) {
			failf("fd %d: %zu of %zu bytes, then %zd (%s)", fd, got, len, n, strerror(errno));
			return;
		}
		got += n;
	}
	if (got != len || memcmp(buf, want, len))
		failf("fd %d: read %.*s, want %s", fd, (int)got, buf, want);
	else if (at_end && recv(fd, buf, sizeof buf, MSG_DONTWAIT) != 0)
		failf("fd %d: no end of file after %s (%s)", fd, want, strerror(errno));
	else if (!at_end && (recv(fd, buf, sizeof buf, MSG_DONTWAIT) != -1 || errno != EAGAIN))
		failf("fd %d: more than %s queued", fd, want);
}

static void check_stream(int fd, const char *want)
{
	check_stream_to(fd, want, 0);
}

/* Receives one message and checks its bytes and length exactly. */
static void check_message(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, n))
		failf("fd %d: message %.*s (%zd bytes), want %s", fd, n > 0 ? (int)n : 0, buf, n, want);
}

/* Checks nothing is queued on `fd`. */
static void check_empty(int fd)
{
	char buf[16];
	if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		failf("fd %d: more queued than expected", fd);
}

/* Checks no peek offset was left behind (SO_PEEK_OFF back at -1). */
static void check_peek_off(int fd)
{
	if (getint(fd, SOL_SOCKET, SO_PEEK_OFF) != -1)
		failf("fd %d: SO_PEEK_OFF is not -1", fd);
}
#endif

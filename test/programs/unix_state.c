/*
 * Unix sockets in every state restore brings back, for the restore tests. argv[1] is a directory
 * for the socket files (the program works in it). Prints "child <pid>" and "abstract <name>",
 * signals ready and waits for SIGTERM; then checks that every queued byte and message arrives
 * exactly once and in order, that each socket still talks to its peer both ways, its names and
 * options, has its child do the same, and prints PASS (or FAIL and the first thing wrong).
 *
 *   3/4   stream socketpair: 3 -> 4 "hello from 3" + " and more", 4 -> 3 "reply from 4"
 *   5     stream listener on listener.sock (backlog 5), one connection pending (fd 22)
 *   6     seqpacket listener on an abstract name (backlog 3)
 *   7/8   datagram socketpair: 7 -> 8 three datagrams, 8 -> 7 "back"
 *   9/10  seqpacket socketpair: 9 -> 10 two messages
 *   17    datagram socket on dgram.sock: SO_PASSCRED, SO_PRIORITY 3, SO_RCVTIMEO 2.5 s, SO_MARK 7,
 *         SO_SNDBUF 32768; two datagrams from fd 23 wait on it
 *   18    stream socketpair end whose other end (fd 19) only the child holds; 18 -> child
 *         "to child", child -> 18 "to parent"
 *   20/21 stream client connected to fd 5 and the accepted end: 20 -> 21 "client hello",
 *         21 -> 20 "server hello"
 *   22    stream client connected to fd 5, never accepted
 *   23    datagram socket, never bound (sent two datagrams to dgram.sock)
 *   24    datagram socket bound to the relative name "rel.sock", connected to dgram.sock; fd 17
 *         sent it "to rel"
 *   25    stream listener on gone.sock, whose file was unlinked
 *   26    stream socket whose peer was closed after sending "last words" (shut down both ways)
 *   27/28 stream socketpair, 27 shut down for writing after sending "bye"
 */
#include "common.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "sock_checks.h"

/* Sends a whole string on `fd`. */
static void send_text(int fd, const char *text)
{
	sendall(fd, text, strlen(text));
}

/* Sends `msg` on `a` and receives it on `b`: the two still talk. */
static void check_talks(int a, int b, const char *msg, int stream)
{
	send_text(a, msg);
	if (stream)
		check_stream(b, msg);
	else
		check_message(b, msg);
}

static void check_name(int fd, int peer, const char *want, int abstract)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof sa;
	memset(&sa, 0, sizeof sa);
	if ((peer ? getpeername(fd, (struct sockaddr *)&sa, &len) : getsockname(fd, (struct sockaddr *)&sa, &len)) < 0) {
		failf("fd %d: no %s name (%s)", fd, peer ? "peer" : "own", strerror(errno));
		return;
	}
	const char *name = abstract ? sa.sun_path + 1 : sa.sun_path;
	if ((abstract && sa.sun_path[0] != 0) || strcmp(name, want))
		failf("fd %d: %s name %s%s, want %s%s", fd, peer ? "peer" : "own", sa.sun_path[0] ? "" : "@", name, abstract ? "@" : "", want);
}


static int child_main(void)
{
	for (int fd = 3; fd < 64; fd++)
		if (fd != 19)
			close(fd);
	send_text(19, "to parent");
	while (!terminated)
		pause();
	check_stream(19, "to child");
	check_peek_off(19);
	if (!failure[0]) {
		send_text(19, "child still here");
	}
	if (failure[0]) {
		fprintf(stderr, "child: %s\n", failure);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	for (int fd = 3; fd < 64; fd++) /* whatever the launcher left open: the layout starts at 3 */
		close(fd);
	catch_term();
	if (chdir(argv[1]))
		return 2;
	int sv[2];
	struct sockaddr_un sa;
	socklen_t salen;
	char abstract[64];
	snprintf(abstract, sizeof abstract, "criu-ts-unix-%d", getpid());

	expect_fd(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "stream pair");
	expect_fd(sv[0], 3, "stream pair");
	send_text(3, "hello from 3");
	send_text(3, " and more");
	send_text(4, "reply from 4");

	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 5, "listener");
	salen = unix_addr(&sa, "listener.sock", 0);
	unlink("listener.sock");
	if (bind(5, (struct sockaddr *)&sa, salen) || listen(5, 5))
		return 5;

	expect_fd(socket(AF_UNIX, SOCK_SEQPACKET, 0), 6, "abstract");
	salen = unix_addr(&sa, abstract, 1);
	if (bind(6, (struct sockaddr *)&sa, salen) || listen(6, 3))
		return 6;

	expect_fd(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0, "dgram pair");
	expect_fd(sv[0], 7, "dgram pair");
	send_text(7, "dgram-1");
	send_text(7, "dgram-two");
	send_text(7, "dgram-3-is-longer-than-the-others");
	send_text(8, "back");

	expect_fd(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0, "seqpacket pair");
	expect_fd(sv[0], 9, "seqpacket pair");
	send_text(9, "packet one");
	send_text(9, "packet 2");

	for (int fd = 11; fd <= 16; fd++) /* a gap: keeps the fds the tests know where they were */
		expect_fd(open("/dev/null", O_RDONLY), fd, "filler");

	expect_fd(socket(AF_UNIX, SOCK_DGRAM, 0), 17, "dgram with options");
	salen = unix_addr(&sa, "dgram.sock", 0);
	unlink("dgram.sock");
	if (bind(17, (struct sockaddr *)&sa, salen))
		return 17;
	setint(17, SOL_SOCKET, SO_PASSCRED, 1);
	setint(17, SOL_SOCKET, SO_PRIORITY, 3);
	setint(17, SOL_SOCKET, SO_MARK, 7);
	setint(17, SOL_SOCKET, SO_SNDBUF, 16384);
	struct timeval tv = { .tv_sec = 2, .tv_usec = 500000 };
	if (setsockopt(17, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv))
		return 17;

	expect_fd(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "child pair");
	expect_fd(sv[0], 18, "child pair");
	send_text(18, "to child");

	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 20, "client");
	salen = unix_addr(&sa, "listener.sock", 0);
	if (connect(20, (struct sockaddr *)&sa, salen))
		return 20;
	expect_fd(accept(5, NULL, NULL), 21, "accepted");
	send_text(20, "client hello");
	send_text(21, "server hello");
	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 22, "pending client");
	if (connect(22, (struct sockaddr *)&sa, salen))
		return 22;

	expect_fd(socket(AF_UNIX, SOCK_DGRAM, 0), 23, "unbound dgram");
	salen = unix_addr(&sa, "dgram.sock", 0);
	if (sendto(23, "from 23 #1", 10, 0, (struct sockaddr *)&sa, salen) != 10 || sendto(23, "from 23 #2", 10, 0, (struct sockaddr *)&sa, salen) != 10)
		return 23;

	expect_fd(socket(AF_UNIX, SOCK_DGRAM, 0), 24, "relative name");
	salen = unix_addr(&sa, "rel.sock", 0);
	unlink("rel.sock");
	if (bind(24, (struct sockaddr *)&sa, salen))
		return 24;
	if (sendto(17, "to rel", 6, 0, (struct sockaddr *)&sa, salen) != 6)
		return 24;
	salen = unix_addr(&sa, "dgram.sock", 0);
	if (connect(24, (struct sockaddr *)&sa, salen))
		return 24;

	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 25, "unlinked");
	salen = unix_addr(&sa, "gone.sock", 0);
	unlink("gone.sock");
	if (bind(25, (struct sockaddr *)&sa, salen) || listen(25, 1) || unlink("gone.sock"))
		return 25;

	expect_fd(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "widowed");
	expect_fd(sv[0], 26, "widowed");
	send_text(sv[1], "last words");
	close(sv[1]);

	expect_fd(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "half shut");
	expect_fd(sv[0], 27, "half shut");
	send_text(27, "bye");
	if (shutdown(27, SHUT_WR))
		return 27;

	pid_t child = fork();
	if (child == 0)
		return child_main();
	close(19);
	say("child %d\n", child);
	say("abstract %s\n", abstract);
	signal_ready();
	while (!terminated)
		pause();

	/* Every queue exactly once, in order, boundaries kept. */
	check_stream(4, "hello from 3 and more");
	check_stream(3, "reply from 4");
	check_message(8, "dgram-1");
	check_message(8, "dgram-two");
	check_message(8, "dgram-3-is-longer-than-the-others");
	check_empty(8);
	check_message(7, "back");
	check_empty(7);
	check_message(10, "packet one");
	check_message(10, "packet 2");
	check_empty(10);
	check_message(17, "from 23 #1");
	check_message(17, "from 23 #2");
	check_empty(17);
	check_message(24, "to rel");
	check_empty(24);
	check_stream(21, "client hello");
	check_stream(20, "server hello");
	check_stream(18, "to parent");
	check_stream_to(26, "last words", 1);
	check_stream_to(28, "bye", 1);

	/* Each still talks to its peer, both ways. */
	check_talks(3, 4, "3 again", 1);
	check_talks(4, 3, "4 again", 1);
	check_talks(7, 8, "7 again", 0);
	check_talks(8, 7, "8 again", 0);
	check_talks(9, 10, "9 again", 0);
	check_talks(10, 9, "10 again", 0);
	check_talks(20, 21, "20 again", 1);
	check_talks(21, 20, "21 again", 1);
	check_talks(24, 17, "24 again", 0);
	check_talks(28, 27, "28 still", 1);
	if (send(27, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		failf("fd 27: it sends after its shutdown");

	/* Names: the listener's path, the accepted end and its client, the abstract name. */
	check_name(5, 0, "listener.sock", 0);
	check_name(21, 0, "listener.sock", 0);
	check_name(20, 1, "listener.sock", 0);
	check_name(6, 0, abstract, 1);
	check_name(17, 0, "dgram.sock", 0);
	check_name(24, 0, "rel.sock", 0);
	check_name(24, 1, "dgram.sock", 0);
	check_name(25, 0, "gone.sock", 0);
	struct stat st;
	if (lstat("gone.sock", &st) == 0)
		failf("gone.sock is there again");
	if (lstat("listener.sock", &st) || !S_ISSOCK(st.st_mode))
		failf("listener.sock is not a socket file");

	/* The pending connection is still waiting, and more can come to both listeners. */
	int pending = accept4(5, NULL, NULL, SOCK_NONBLOCK);
	if (pending < 0)
		failf("the pending connection is gone: %s", strerror(errno));
	else {
		check_talks(22, pending, "22 accepted", 1);
		check_talks(pending, 22, "reply to 22", 1);
	}
	fcntl(5, F_SETFL, O_NONBLOCK);
	if (accept4(5, NULL, NULL, 0) != -1 || errno != EAGAIN)
		failf("fd 5: a second connection was pending");
	int fresh = socket(AF_UNIX, SOCK_STREAM, 0);
	salen = unix_addr(&sa, "listener.sock", 0);
	if (connect(fresh, (struct sockaddr *)&sa, salen))
		failf("a new client cannot connect to listener.sock: %s", strerror(errno));
	int seq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	salen = unix_addr(&sa, abstract, 1);
	if (connect(seq, (struct sockaddr *)&sa, salen))
		failf("a new client cannot connect to @%s: %s", abstract, strerror(errno));

	/* Options. */
	if (getint(17, SOL_SOCKET, SO_PASSCRED) != 1 || getint(17, SOL_SOCKET, SO_PRIORITY) != 3 || getint(17, SOL_SOCKET, SO_MARK) != 7 || getint(17, SOL_SOCKET, SO_SNDBUF) != 32768)
		failf("fd 17: options %d %d %d %d", getint(17, SOL_SOCKET, SO_PASSCRED), getint(17, SOL_SOCKET, SO_PRIORITY), getint(17, SOL_SOCKET, SO_MARK), getint(17, SOL_SOCKET, SO_SNDBUF));
	struct timeval got = { 0 };
	socklen_t tvlen = sizeof got;
	if (getsockopt(17, SOL_SOCKET, SO_RCVTIMEO, &got, &tvlen) || got.tv_sec != 2 || got.tv_usec != 500000)
		failf("fd 17: SO_RCVTIMEO %ld.%06ld", (long)got.tv_sec, (long)got.tv_usec);
	int fds[] = { 3, 4, 7, 8, 10, 17, 18, 21, 24 };
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
		check_peek_off(fds[i]);

	kill(child, SIGTERM);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		failf("the child failed (status %#x)", status);
	else
		check_stream_to(18, "child still here", 1);
	if (failure[0]) {
		say("FAIL %s\n", failure);
		return 1;
	}
	say("PASS\n");
	return 0;
}

/*
 * Sockets in every state the socket dump handles, for its tests. argv[1] is a directory for the
 * socket files. Prints "child <pid>" and "abstract <name>", signals ready and waits for SIGTERM;
 * then it reads back everything it had queued, checks it byte for byte (and that no peek offset
 * was left behind), has its child do the same, and prints PASS (or FAIL and why).
 *
 *   3/4   stream socketpair: 3 -> 4 "hello from 3" + " and more", 4 -> 3 "reply from 4"
 *   5     stream listener on DIR/listener.sock (backlog 5), one connection pending (fd 22)
 *   6     seqpacket listener on an abstract name (backlog 3)
 *   7/8   datagram socketpair: 7 -> 8 three datagrams, 8 -> 7 "back"
 *   9/10  seqpacket socketpair: 9 -> 10 two messages
 *   11    UDP/IPv4 bound to 127.0.0.1, not connected
 *   12    UDP/IPv4 connected to fd 11 (bound implicitly)
 *   13    UDP/IPv6 bound to [::1], IPV6_V6ONLY
 *   14    UDP/IPv6 never bound (in no sock_diag table)
 *   15    TCP/IPv4 listener on 127.0.0.1 (SO_REUSEADDR, SO_SNDBUF 16384, SO_RCVBUF 65536,
 *         TCP_NODELAY, TCP_KEEPIDLE 600, backlog 4)
 *   16    TCP/IPv6 listener on [::]
 *   17    datagram socket on DIR/dgram.sock: SO_PASSCRED, SO_PRIORITY 3, SO_RCVTIMEO 2.5 s,
 *         SO_MARK 7
 *   18    stream socketpair end whose other end (fd 19) only the child holds; 18 -> child
 *         "to child", child -> 18 "to parent"
 *   20/21 stream client connected to fd 5 and the accepted end: 20 -> 21 "client hello"
 *   22    stream client connected to fd 5, never accepted (an in-flight connection)
 *   23    datagram socket, never bound
 *   24    datagram socket bound to the relative name "rel.sock" in DIR (the cwd)
 *   25    stream listener on DIR/gone.sock, whose file was unlinked
 */
#include "common.h"
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "sock_checks.h"

static int child_main(void)
{
	for (int fd = 3; fd < 64; fd++)
		if (fd != 19)
			close(fd);
	sendall(19, "to parent", 9);
	while (!terminated)
		pause();
	check_stream(19, "to child");
	check_peek_off(19);
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
	snprintf(abstract, sizeof abstract, "criu-ts-sockets-%d", getpid());

	expect_fd(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "stream pair");
	expect_fd(sv[0], 3, "stream pair");
	sendall(3, "hello from 3", 12);
	sendall(3, " and more", 9);
	sendall(4, "reply from 4", 12);

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
	sendall(7, "dgram-1", 7);
	sendall(7, "dgram-two", 9);
	sendall(7, "dgram-3-is-longer-than-the-others", 33);
	sendall(8, "back", 4);

	expect_fd(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0, "seqpacket pair");
	expect_fd(sv[0], 9, "seqpacket pair");
	sendall(9, "packet one", 10);
	sendall(9, "packet 2", 8);

	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t in4len = sizeof in4;
	expect_fd(socket(AF_INET, SOCK_DGRAM, 0), 11, "udp4");
	if (bind(11, (struct sockaddr *)&in4, sizeof in4) || getsockname(11, (struct sockaddr *)&in4, &in4len))
		return 11;
	expect_fd(socket(AF_INET, SOCK_DGRAM, 0), 12, "udp4 connected");
	if (connect(12, (struct sockaddr *)&in4, sizeof in4))
		return 12;

	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	expect_fd(socket(AF_INET6, SOCK_DGRAM, 0), 13, "udp6");
	setint(13, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	if (bind(13, (struct sockaddr *)&in6, sizeof in6))
		return 13;
	expect_fd(socket(AF_INET6, SOCK_DGRAM, 0), 14, "udp6 unbound");

	expect_fd(socket(AF_INET, SOCK_STREAM, 0), 15, "tcp4 listener");
	setint(15, SOL_SOCKET, SO_REUSEADDR, 1);
	setint(15, SOL_SOCKET, SO_SNDBUF, 16384);
	setint(15, SOL_SOCKET, SO_RCVBUF, 65536);
	setint(15, IPPROTO_TCP, TCP_NODELAY, 1);
	setint(15, IPPROTO_TCP, TCP_KEEPIDLE, 600);
	in4.sin_port = 0;
	if (bind(15, (struct sockaddr *)&in4, sizeof in4) || listen(15, 4))
		return 15;

	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	expect_fd(socket(AF_INET6, SOCK_STREAM, 0), 16, "tcp6 listener");
	if (bind(16, (struct sockaddr *)&any6, sizeof any6) || listen(16, 8))
		return 16;

	expect_fd(socket(AF_UNIX, SOCK_DGRAM, 0), 17, "dgram with options");
	salen = unix_addr(&sa, "dgram.sock", 0);
	unlink("dgram.sock");
	if (bind(17, (struct sockaddr *)&sa, salen))
		return 17;
	setint(17, SOL_SOCKET, SO_PASSCRED, 1);
	setint(17, SOL_SOCKET, SO_PRIORITY, 3);
	setint(17, SOL_SOCKET, SO_MARK, 7);
	struct timeval tv = { .tv_sec = 2, .tv_usec = 500000 };
	if (setsockopt(17, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv))
		return 17;

	expect_fd(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "child pair");
	expect_fd(sv[0], 18, "child pair");
	sendall(18, "to child", 8);

	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 20, "client");
	salen = unix_addr(&sa, "listener.sock", 0);
	if (connect(20, (struct sockaddr *)&sa, salen))
		return 20;
	expect_fd(accept(5, NULL, NULL), 21, "accepted");
	sendall(20, "client hello", 12);
	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 22, "in-flight client");
	if (connect(22, (struct sockaddr *)&sa, salen))
		return 22;

	expect_fd(socket(AF_UNIX, SOCK_DGRAM, 0), 23, "unbound dgram");

	expect_fd(socket(AF_UNIX, SOCK_DGRAM, 0), 24, "relative name");
	salen = unix_addr(&sa, "rel.sock", 0);
	unlink("rel.sock");
	if (bind(24, (struct sockaddr *)&sa, salen))
		return 24;

	expect_fd(socket(AF_UNIX, SOCK_STREAM, 0), 25, "unlinked");
	salen = unix_addr(&sa, "gone.sock", 0);
	unlink("gone.sock");
	if (bind(25, (struct sockaddr *)&sa, salen) || listen(25, 1) || unlink("gone.sock"))
		return 25;

	pid_t child = fork();
	if (child == 0)
		return child_main();
	close(19);
	say("child %d\n", child);
	say("abstract %s\n", abstract);
	signal_ready();
	while (!terminated)
		pause();

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
	check_stream(21, "client hello");
	check_stream(18, "to parent");
	int pending = accept(5, NULL, NULL);
	if (pending < 0)
		failf("the pending connection is gone: %s", strerror(errno));
	int fds[] = { 3, 4, 7, 8, 10, 18, 21 };
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
		check_peek_off(fds[i]);

	kill(child, SIGTERM);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		failf("the child failed (status %#x)", status);
	if (failure[0]) {
		say("FAIL %s\n", failure);
		return 1;
	}
	say("PASS\n");
	return 0;
}

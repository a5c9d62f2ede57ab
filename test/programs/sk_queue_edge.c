/*
 * Queues that are hard to peek, for the socket dump tests:
 *   sk_queue_edge big      fds 3/4: a datagram pair; 3 (SO_SNDBUFFORCE 1 MiB) queued a
 *                          300000-byte datagram (byte i is i % 251), then "tail", on 4
 *   sk_queue_edge rights   fds 3/4: a stream pair; 3 queued "fd" on 4 with /dev/null passed
 *                          along (SCM_RIGHTS)
 *   sk_queue_edge netns    fds 3/4: a stream pair made in a network namespace of its own, 3
 *                          queued "fd" on 4 with /dev/null passed along
 * Signals ready and waits for SIGTERM; then receives what was queued, checks it, and prints PASS.
 */
#include "common.h"
#include <sched.h>
#include <sys/socket.h>

#define BIG 300000

static int send_fd(int sk, int fd)
{
	char data[2] = "fd";
	struct iovec iov = { .iov_base = data, .iov_len = 2 };
	char control[CMSG_SPACE(sizeof(int))];
	memset(control, 0, sizeof control);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	struct cmsghdr *ch = CMSG_FIRSTHDR(&msg);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(ch), &fd, sizeof fd);
	return sendmsg(sk, &msg, 0) == 2 ? 0 : -1;
}

static const char *check_rights(int sk)
{
	char data[8];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
	char control[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	if (recvmsg(sk, &msg, MSG_DONTWAIT) != 2 || memcmp(data, "fd", 2))
		return "the message is gone";
	struct cmsghdr *ch = CMSG_FIRSTHDR(&msg);
	if (!ch || ch->cmsg_type != SCM_RIGHTS)
		return "the passed fd is gone";
	int fd;
	memcpy(&fd, CMSG_DATA(ch), sizeof fd);
	char path[64], link[64] = "";
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (readlink(path, link, sizeof link - 1) < 0 || strcmp(link, "/dev/null"))
		return "the passed fd is not /dev/null";
	return NULL;
}

static const char *check_big(int sk)
{
	static unsigned char buf[BIG + 16];
	ssize_t n = recv(sk, buf, sizeof buf, MSG_DONTWAIT);
	if (n != BIG)
		return "the big datagram changed size";
	for (int i = 0; i < BIG; i++)
		if (buf[i] != i % 251)
			return "the big datagram changed";
	n = recv(sk, buf, sizeof buf, MSG_DONTWAIT);
	if (n != 4 || memcmp(buf, "tail", 4))
		return "the tail datagram changed";
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	catch_term();
	int big = strcmp(argv[1], "big") == 0;
	if (strcmp(argv[1], "netns") == 0 && unshare(CLONE_NEWNET))
		return 5;
	int sv[2];
	if (socketpair(AF_UNIX, big ? SOCK_DGRAM : SOCK_STREAM, 0, sv) || sv[0] != 3)
		return 3;
	if (big) {
		static unsigned char buf[BIG];
		for (int i = 0; i < BIG; i++)
			buf[i] = i % 251;
		int size = 1 << 20;
		if (setsockopt(3, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) || send(3, buf, BIG, 0) != BIG || send(3, "tail", 4, 0) != 4)
			return 4;
	} else {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || send_fd(3, devnull))
			return 4;
		close(devnull);
	}
	signal_ready();
	while (!terminated)
		pause();
	const char *failure = big ? check_big(4) : check_rights(4);
	if (failure) {
		say("FAIL %s\n", failure);
		return 1;
	}
	say("PASS\n");
	return 0;
}

/*
 * epoll instances for the fd-dump tests. Signals ready, waits for SIGTERM, then checks that the
 * instances still watch what they were given and prints PASS.
 *   fd 3/4: a pipe; fd 5: eventfd(0)
 *   fd 6: epoll (EPOLL_CLOEXEC) watching 3 (EPOLLIN|EPOLLET, data 0x1122334455667788),
 *         4 (EPOLLOUT, data 7) and 5 (EPOLLIN|EPOLLONESHOT|EPOLLRDHUP, data 0xdeadbeefcafe)
 *   fd 7: epoll watching epoll 6 (EPOLLIN, data 42)
 * With argv[1] "stale": an eventfd is made, added to epoll 6 (data 99), kept open by a dup and
 * closed: the epoll still lists the closed fd, which the program prints ("stale <fd>").
 */
#include "common.h"
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static int add(int ep, int fd, unsigned events, unsigned long long data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
	catch_term();
	int p[2];
	if (pipe(p) || p[0] != 3 || p[1] != 4)
		return 3;
	if (eventfd(0, 0) != 5)
		return 5;
	if (epoll_create1(EPOLL_CLOEXEC) != 6 || epoll_create1(0) != 7)
		return 6;
	if (add(6, 3, EPOLLIN | EPOLLET, 0x1122334455667788ULL) || add(6, 4, EPOLLOUT, 7) ||
	    add(6, 5, EPOLLIN | EPOLLONESHOT | EPOLLRDHUP, 0xdeadbeefcafeULL) || add(7, 6, EPOLLIN, 42))
		return 7;
	if (argc > 1 && strcmp(argv[1], "stale") == 0) {
		int fd = eventfd(0, 0);
		if (fd < 0 || dup(fd) < 0 || add(6, fd, EPOLLIN, 99) || close(fd))
			return 8;
		say("stale %d\n", fd);
	}
	signal_ready();
	while (!terminated)
		pause();

	/* Every target is still registered (a second ADD says EEXIST). */
	for (int fd = 3; fd <= 5; fd++)
		if (add(6, fd, EPOLLIN, 0) == 0 || errno != EEXIST) {
			say("FAIL: fd %d is not watched any more\n", fd);
			return 1;
		}
	/* The write end is writable: epoll 6 reports it with its data, and epoll 7 sees epoll 6. */
	struct epoll_event evs[8];
	int n = epoll_wait(6, evs, 8, 0), seen = 0;
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == 7 && (evs[i].events & EPOLLOUT))
			seen = 1;
	n = epoll_wait(7, evs, 8, 0);
	if (!seen || n != 1 || evs[0].data.u64 != 42) {
		say("FAIL: events %d %d\n", seen, n);
		return 1;
	}
	say("PASS\n");
	return 0;
}

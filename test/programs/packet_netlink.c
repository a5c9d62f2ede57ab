/*
 * Packet and netlink sockets for the dump/restore tests. Every mode first joins the network
 * namespace at argv[2] (a path such as /run/netns/NAME), so the test never touches the host's
 * network.
 *
 *   packet_netlink run NETNS IFNAME
 *     fd 3  AF_PACKET SOCK_RAW, ETH_P_ALL, bound to lo: aux data, original device, vnet header,
 *           TPACKET_V2, reserve 64, timestamp source, copy threshold, a promiscuous membership of
 *           lo, fanout group 0x4242 (hash, defrag), an accept-all BPF filter, priority 3
 *     fd 4  AF_PACKET SOCK_DGRAM, ETH_P_ALL, bound to IFNAME: loss, the multicast membership
 *           01:00:5e:00:00:fb taken twice, all-multicast
 *     fd 5  NETLINK_ROUTE bound (port chosen by the kernel) to RTMGRP_IPV4_IFADDR, and group 33
 *           (RTNLGRP_BRVLAN) joined with NETLINK_ADD_MEMBERSHIP
 *     fd 6  NETLINK_GENERIC connected to the kernel; it asked for the "nlctrl" family once
 *     fd 7  NETLINK_USERSOCK bound to port 0x7e000000 + pid
 *     fd 8  NETLINK_USERSOCK connected to fd 7
 *     fd 9  NETLINK_ROUTE never bound
 *   prints "ports P5 P6 P7 P8", signals ready, and on SIGTERM prints the ports again, checks the
 *   options it can read back, then that each socket works: a UDP datagram it sends on lo is seen
 *   on fd 3; the address 10.99.0.1 the test added to IFNAME (before SIGTERM) comes as RTM_NEWADDR
 *   on fd 5; a datagram it sends to 10.99.0.2 (out of IFNAME) is seen on fd 4; nlctrl answers on
 *   fd 6; fd 8 reaches fd 7. Prints PASS, or FAIL and what failed.
 *
 *   packet_netlink hold NETNS PROTOCOL PORT   a netlink socket bound to PORT, until killed
 *   packet_netlink ring NETNS [map]           fd 3 a packet socket with an RX ring (mapped with
 *                                             "map"), until SIGTERM, then PASS
 */
#include "common.h"
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/genetlink.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define FANOUT_ID 0x4242
#define FANOUT_ARG (FANOUT_ID | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16))
#define USER_PORT_BASE 0x7e000000u

static const unsigned char MCAST[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };

static int fail(const char *what)
{
	say("FAIL %s (errno %d)\n", what, errno);
	return 1;
}

static void must(int ok, const char *what)
{
	if (!ok) {
		say("setup failed: %s (errno %d)\n", what, errno);
		exit(3);
	}
}

static void join_netns(const char *path)
{
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	must(ns >= 0 && setns(ns, CLONE_NEWNET) == 0, "join the network namespace");
	close(ns);
}

static int setint(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

static int getint(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;
	if (getsockopt(fd, level, name, &v, &len) != 0)
		return -1;
	return v;
}

static int packet_socket(int want, int type, int proto, unsigned ifindex)
{
	int fd = socket(AF_PACKET, type, htons(proto));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex };
	must(fd == want, "packet socket at its fd");
	must(bind(fd, (struct sockaddr *)&sll, sizeof sll) == 0, "bind the packet socket");
	return fd;
}

static void membership(int fd, unsigned ifindex, int type, const unsigned char *addr, int alen)
{
	struct packet_mreq mr = { .mr_ifindex = (int)ifindex, .mr_type = type, .mr_alen = alen };
	if (alen > 0)
		memcpy(mr.mr_address, addr, alen);
	must(setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) == 0, "add a packet membership");
}

static unsigned portid(int fd)
{
	struct sockaddr_nl nl;
	socklen_t len = sizeof nl;
	if (getsockname(fd, (struct sockaddr *)&nl, &len) != 0)
		return 0;
	return nl.nl_pid;
}

static int netlink_socket(int want, int proto)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, proto);
	must(fd == want, "netlink socket at its fd");
	return fd;
}

static void bind_nl(int fd, unsigned port, unsigned groups)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = port, .nl_groups = groups };
	must(bind(fd, (struct sockaddr *)&nl, sizeof nl) == 0, "bind the netlink socket");
}

/* Waits up to `ms` for data on fd; 1 when there is some. */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* Asks nlctrl for the family "nlctrl" on the connected generic socket; its id, or -1. */
static int genl_nlctrl_id(int fd)
{
	struct {
		struct nlmsghdr n;
		struct genlmsghdr g;
		char attrs[32];
	} req;
	memset(&req, 0, sizeof req);
	struct nlattr *a = (struct nlattr *)req.attrs;
	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = NLA_HDRLEN + sizeof "nlctrl";
	memcpy((char *)a + NLA_HDRLEN, "nlctrl", sizeof "nlctrl");
	req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN + NLA_ALIGN(a->nla_len));
	req.n.nlmsg_type = GENL_ID_CTRL;
	req.n.nlmsg_flags = NLM_F_REQUEST;
	req.n.nlmsg_seq = 7;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	if (send(fd, &req, req.n.nlmsg_len, 0) != (ssize_t)req.n.nlmsg_len || !readable(fd, 2000))
		return -1;
	char buf[8192];
	ssize_t n = recv(fd, buf, sizeof buf, 0);
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (n < (ssize_t)NLMSG_LENGTH(GENL_HDRLEN) || h->nlmsg_type != GENL_ID_CTRL)
		return -1;
	int left = (int)h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	for (struct nlattr *at = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN); left >= NLA_HDRLEN && at->nla_len >= NLA_HDRLEN;
	     left -= NLA_ALIGN(at->nla_len), at = (struct nlattr *)((char *)at + NLA_ALIGN(at->nla_len)))
		if (at->nla_type == CTRL_ATTR_FAMILY_ID)
			return *(unsigned short *)((char *)at + NLA_HDRLEN);
	return -1;
}

/* Reads frames from a packet socket for up to 2 s; 1 once one holds `marker`. */
static int sees(int fd, const char *marker)
{
	char buf[4096];
	int64_t end = now_ms() + 2000;
	while (now_ms() < end) {
		if (!readable(fd, 100))
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n > 0 && memmem(buf, n, marker, strlen(marker)) != NULL)
			return 1;
	}
	return 0;
}

static int send_udp(const char *ip, const char *marker)
{
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	inet_pton(AF_INET, ip, &to.sin_addr);
	int ok = sendto(u, marker, strlen(marker), 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)strlen(marker);
	close(u);
	return ok;
}

/* Reads route messages for up to 3 s; 1 once RTM_NEWADDR for 10.99.0.1 came. */
static int sees_new_address(int fd)
{
	char buf[16384];
	struct in_addr want;
	inet_pton(AF_INET, "10.99.0.1", &want);
	int64_t end = now_ms() + 3000;
	while (now_ms() < end) {
		if (!readable(fd, 100))
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type != RTM_NEWADDR)
				continue;
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			int left = IFA_PAYLOAD(h);
			for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, left); rta = RTA_NEXT(rta, left))
				if (rta->rta_type == IFA_LOCAL && memcmp(RTA_DATA(rta), &want, 4) == 0)
					return 1;
		}
	}
	return 0;
}

static __attribute__((noreturn)) void hold(char **argv)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, atoi(argv[3]));
	bind_nl(fd, (unsigned)strtoul(argv[4], NULL, 0), 0);
	signal_ready();
	for (;;)
		pause();
}

static int ring(int argc, char **argv)
{
	catch_term();
	int fd = packet_socket(3, SOCK_RAW, ETH_P_ALL, if_nametoindex("lo"));
	struct tpacket_req req = { .tp_block_size = 4096, .tp_block_nr = 1, .tp_frame_size = 2048, .tp_frame_nr = 2 };
	must(setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) == 0, "set an RX ring");
	if (argc > 3 && strcmp(argv[3], "map") == 0)
		must(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) != MAP_FAILED, "map the ring");
	signal_ready();
	while (!terminated)
		pause();
	say("PASS\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	join_netns(argv[2]);
	if (strcmp(argv[1], "hold") == 0 && argc >= 5)
		hold(argv);
	if (strcmp(argv[1], "ring") == 0)
		return ring(argc, argv);
	if (strcmp(argv[1], "run") != 0 || argc < 4)
		return 2;
	catch_term();
	unsigned lo = if_nametoindex("lo"), dev = if_nametoindex(argv[3]);
	must(lo != 0 && dev != 0, "find lo and the test interface");

	int raw = packet_socket(3, SOCK_RAW, ETH_P_ALL, lo);
	must(setint(raw, SOL_PACKET, PACKET_AUXDATA, 1) && setint(raw, SOL_PACKET, PACKET_ORIGDEV, 1) && setint(raw, SOL_PACKET, PACKET_VNET_HDR, 1) &&
	     setint(raw, SOL_PACKET, PACKET_VERSION, TPACKET_V2) && setint(raw, SOL_PACKET, PACKET_RESERVE, 64) &&
	     setint(raw, SOL_PACKET, PACKET_TIMESTAMP, SOF_TIMESTAMPING_RAW_HARDWARE) && setint(raw, SOL_PACKET, PACKET_COPY_THRESH, 96),
	     "packet options");
	membership(raw, lo, PACKET_MR_PROMISC, NULL, 0);
	must(setint(raw, SOL_PACKET, PACKET_FANOUT, FANOUT_ARG), "join the fanout group");
	struct sock_filter accept_all[] = { BPF_STMT(BPF_RET | BPF_K, 0x40000) };
	struct sock_fprog prog = { .len = 1, .filter = accept_all };
	must(setsockopt(raw, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0 && setint(raw, SOL_SOCKET, SO_PRIORITY, 3), "filter and priority");

	int dgram = packet_socket(4, SOCK_DGRAM, ETH_P_ALL, dev);
	must(setint(dgram, SOL_PACKET, PACKET_LOSS, 1), "PACKET_LOSS");
	membership(dgram, dev, PACKET_MR_MULTICAST, MCAST, 6);
	membership(dgram, dev, PACKET_MR_MULTICAST, MCAST, 6);
	membership(dgram, dev, PACKET_MR_ALLMULTI, NULL, 0);

	int route = netlink_socket(5, NETLINK_ROUTE);
	bind_nl(route, 0, RTMGRP_IPV4_IFADDR);
	must(setint(route, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_BRVLAN), "join group 33");
	int genl = netlink_socket(6, NETLINK_GENERIC);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	must(connect(genl, (struct sockaddr *)&kernel, sizeof kernel) == 0, "connect the generic socket");
	must(genl_nlctrl_id(genl) == GENL_ID_CTRL, "ask nlctrl once");
	int user = netlink_socket(7, NETLINK_USERSOCK);
	bind_nl(user, USER_PORT_BASE + (unsigned)getpid(), 0);
	int talker = netlink_socket(8, NETLINK_USERSOCK);
	struct sockaddr_nl peer = { .nl_family = AF_NETLINK, .nl_pid = USER_PORT_BASE + (unsigned)getpid() };
	must(connect(talker, (struct sockaddr *)&peer, sizeof peer) == 0, "connect the user socket");
	netlink_socket(9, NETLINK_ROUTE);
	int rcvbuf = getint(raw, SOL_SOCKET, SO_RCVBUF);

	say("ports %u %u %u %u\n", portid(5), portid(6), portid(7), portid(8));
	signal_ready();
	while (!terminated)
		pause();
	say("ports after %u %u %u %u\n", portid(5), portid(6), portid(7), portid(8));

	struct sockaddr_ll sll;
	socklen_t len = sizeof sll;
	if (getsockname(3, (struct sockaddr *)&sll, &len) || sll.sll_ifindex != (int)lo || sll.sll_protocol != htons(ETH_P_ALL))
		return fail("fd 3 is not bound to lo for ETH_P_ALL");
	if (getint(3, SOL_PACKET, PACKET_AUXDATA) != 1 || getint(3, SOL_PACKET, PACKET_ORIGDEV) != 1 || getint(3, SOL_PACKET, PACKET_VNET_HDR) != 1)
		return fail("fd 3 aux data, original device or vnet header");
	if (getint(3, SOL_PACKET, PACKET_VERSION) != TPACKET_V2 || getint(3, SOL_PACKET, PACKET_RESERVE) != 64 ||
	    getint(3, SOL_PACKET, PACKET_TIMESTAMP) != SOF_TIMESTAMPING_RAW_HARDWARE)
		return fail("fd 3 version, reserve or timestamp");
	if ((unsigned)getint(3, SOL_PACKET, PACKET_FANOUT) != FANOUT_ARG)
		return fail("fd 3 fanout");
	if (getint(3, SOL_SOCKET, SO_PRIORITY) != 3 || getint(3, SOL_SOCKET, SO_RCVBUF) != rcvbuf)
		return fail("fd 3 priority or receive buffer");
	struct sock_filter back[4];
	len = 4; /* SO_GET_FILTER counts instructions */
	if (getsockopt(3, SOL_SOCKET, SO_GET_FILTER, back, &len) || len != 1 || back[0].code != (BPF_RET | BPF_K) || back[0].k != 0x40000)
		return fail("fd 3 filter");
	len = sizeof sll;
	if (getsockname(4, (struct sockaddr *)&sll, &len) || sll.sll_ifindex != (int)dev || getint(4, SOL_PACKET, PACKET_LOSS) != 1)
		return fail("fd 4 binding or loss");
	unsigned groups[4] = { 0 };
	len = sizeof groups;
	if (getsockopt(5, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &len) || groups[0] != RTMGRP_IPV4_IFADDR || groups[1] != 1)
		return fail("fd 5 groups");
	if (getint(9, SOL_SOCKET, SO_PROTOCOL) != NETLINK_ROUTE || portid(9) != 0)
		return fail("fd 9 protocol or port");

	char marker[64];
	snprintf(marker, sizeof marker, "criu-ts lo %d", getpid());
	if (!send_udp("127.0.0.1", marker) || !sees(3, marker))
		return fail("fd 3 does not see a datagram sent on lo");
	if (!sees_new_address(5))
		return fail("fd 5 got no RTM_NEWADDR for 10.99.0.1");
	snprintf(marker, sizeof marker, "criu-ts dev %d", getpid());
	if (!send_udp("10.99.0.2", marker) || !sees(4, marker))
		return fail("fd 4 does not see a datagram sent out of the test interface");
	if (genl_nlctrl_id(6) != GENL_ID_CTRL)
		return fail("fd 6: nlctrl does not answer");
	char hello[16] = { 0 };
	struct sockaddr_nl from;
	len = sizeof from;
	if (send(8, "hello", 5, 0) != 5 || !readable(7, 2000) || recvfrom(7, hello, sizeof hello, 0, (struct sockaddr *)&from, &len) != 5 ||
	    strcmp(hello, "hello") != 0 || from.nl_pid != portid(8))
		return fail("fd 8 does not reach fd 7");
	say("PASS\n");
	return 0;
}

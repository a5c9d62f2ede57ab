/*
 * Datagram and raw inet sockets for the dump/restore tests (run it in a network namespace of the
 * test's, where ping sockets are allowed and lo is up):
 *   fd 3, 4  UDP over 127.0.0.1: 3 bound and connected to 4, 4 bound
 *   fd 5     UDP over ::1, bound, SO_REUSEADDR and SO_BROADCAST off/on as set
 *   fd 6     ICMP "ping" socket, bound to echo id 4242, connected to 127.0.0.1
 *   fd 7     raw ICMP socket with an ICMP_FILTER that passes only echo replies
 *   fd 8     raw ICMPv6 socket with an ICMPV6_FILTER
 *   fd 9     raw UDP socket with IP_HDRINCL and IP_NODEFRAG
 * On SIGTERM it checks that each is still what it was and still works (UDP both ways, a ping
 * answered on fd 6 with id 4242 and seen by fd 7) and prints PASS.
 */
#include "common.h"
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#define CHECK(cond, ...) do { if (!(cond)) { say("FAIL " __VA_ARGS__); say(" (%s)\n", strerror(errno)); return 1; } } while (0)

static struct sockaddr_in lo4(int port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

int main(void)
{
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	catch_term();
	int one = 1;
	/* 3 and 4: UDP, 3 connected to 4 */
	int u3 = socket(AF_INET, SOCK_DGRAM, 0), u4 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = lo4(0);
	CHECK(u3 == 3 && u4 == 4, "udp sockets");
	CHECK(!bind(u4, (struct sockaddr *)&a, sizeof a) && !bind(u3, (struct sockaddr *)&a, sizeof a), "bind udp");
	struct sockaddr_in peer = lo4(port_of(u4));
	CHECK(!connect(u3, (struct sockaddr *)&peer, sizeof peer), "connect udp");
	int p3 = port_of(u3), p4 = port_of(u4);
	/* 5: UDP over ::1 */
	int u5 = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	CHECK(u5 == 5 && !setsockopt(u5, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) && !bind(u5, (struct sockaddr *)&a6, sizeof a6), "udp6");
	int p5 = port_of(u5);
	/* 6: ping socket with echo id 4242, connected */
	int ping = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	struct sockaddr_in id = lo4(4242);
	CHECK(ping == 6 && !bind(ping, (struct sockaddr *)&id, sizeof id), "ping socket");
	struct sockaddr_in dst = lo4(0);
	CHECK(!connect(ping, (struct sockaddr *)&dst, sizeof dst), "connect ping");
	/* 7: raw ICMP, echo replies only */
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	struct icmp_filter filt = { .data = ~(1U << ICMP_ECHOREPLY) };
	CHECK(raw == 7 && !setsockopt(raw, SOL_RAW, ICMP_FILTER, &filt, sizeof filt), "raw icmp");
	/* 8: raw ICMPv6 with a filter */
	int raw6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	struct icmp6_filter f6;
	memset(&f6, 0xff, sizeof f6);
	f6.data[ICMPV6_ECHO_REPLY >> 5] &= ~(1U << (ICMPV6_ECHO_REPLY & 31));
	CHECK(raw6 == 8 && !setsockopt(raw6, IPPROTO_ICMPV6, ICMPV6_FILTER, &f6, sizeof f6), "raw icmpv6");
	/* 9: raw UDP, header included, no defragmentation */
	int rawu = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	CHECK(rawu == 9 && !setsockopt(rawu, SOL_IP, IP_HDRINCL, &one, sizeof one) && !setsockopt(rawu, SOL_IP, IP_NODEFRAG, &one, sizeof one), "raw udp");
	signal_ready();
	while (!terminated)
		pause();

	/* The ports, ids and options are as they were. */
	CHECK(port_of(3) == p3 && port_of(4) == p4 && port_of(5) == p5, "ports %d %d %d, were %d %d %d", port_of(3), port_of(4), port_of(5), p3, p4, p5);
	CHECK(port_of(6) == 4242, "ping id %d", port_of(6));
	int v = 0;
	socklen_t len = sizeof v;
	CHECK(!getsockopt(5, SOL_SOCKET, SO_BROADCAST, &v, &len) && v == 1, "SO_BROADCAST of fd 5");
	struct icmp_filter gf;
	len = sizeof gf;
	CHECK(!getsockopt(7, SOL_RAW, ICMP_FILTER, &gf, &len) && gf.data == filt.data, "ICMP_FILTER %x", gf.data);
	struct icmp6_filter gf6;
	len = sizeof gf6;
	CHECK(!getsockopt(8, IPPROTO_ICMPV6, ICMPV6_FILTER, &gf6, &len) && !memcmp(&gf6, &f6, sizeof f6), "ICMPV6_FILTER");
	len = sizeof v;
	CHECK(!getsockopt(9, SOL_IP, IP_HDRINCL, &v, &len) && v == 1, "IP_HDRINCL");
	CHECK(!getsockopt(9, SOL_IP, IP_NODEFRAG, &v, &len) && v == 1, "IP_NODEFRAG");
	/* UDP both ways: 3 is connected to 4, and 4 answers to 3's address. */
	char buf[64];
	CHECK(send(3, "to4", 3, 0) == 3 && readable(4, 2000), "udp 3->4");
	struct sockaddr_in from;
	socklen_t flen = sizeof from;
	CHECK(recvfrom(4, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 3 && !memcmp(buf, "to4", 3) && ntohs(from.sin_port) == p3, "udp 4 got");
	CHECK(sendto(4, "to3", 3, 0, (struct sockaddr *)&from, flen) == 3 && readable(3, 2000) && recv(3, buf, sizeof buf, 0) == 3, "udp 4->3");
	/* A ping through the connected ping socket: answered with our id, and seen by the raw socket. */
	struct icmphdr echo = { .type = ICMP_ECHO, .un.echo.sequence = htons(7) };
	CHECK(send(6, &echo, sizeof echo, 0) == (ssize_t)sizeof echo, "ping send");
	CHECK(readable(6, 2000), "no ping reply");
	struct icmphdr reply;
	CHECK(recv(6, &reply, sizeof reply, 0) == (ssize_t)sizeof reply && reply.type == ICMP_ECHOREPLY && ntohs(reply.un.echo.id) == 4242 && ntohs(reply.un.echo.sequence) == 7, "ping reply type %d id %d", reply.type, ntohs(reply.un.echo.id));
	CHECK(readable(7, 2000), "the raw ICMP socket saw no echo reply");
	say("PASS\n");
	return 0;
}

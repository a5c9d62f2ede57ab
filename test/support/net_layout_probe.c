/*
 * Prints what the C headers say about the netlink and sock_diag structs of src/sys/netlink.ts and
 * src/net/sock_diag.ts, and the constants of src/net/constants.ts, one fact per line (the format
 * of sys_layout_probe.c):
 *
 *   size <layout> <sizeof>
 *   field <layout>.<field> <offsetof> <sizeof>
 *   const <C name> <value>
 *
 * Built and run by test/unit/net-layout.test.ts.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/inet_diag.h>
#include <linux/sockios.h>
#include <linux/un.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>

#define SIZE(type, label) printf("size %s %zu\n", label, sizeof(type))
#define FIELD(type, label, f) printf("field %s.%s %zu %zu\n", label, #f, offsetof(type, f), sizeof(((type *)0)->f))
#define CONST(name) printf("const %s %lld\n", #name, (long long)(name))

int main(void)
{
	SIZE(struct nlmsghdr, "nlmsghdr");
	FIELD(struct nlmsghdr, "nlmsghdr", nlmsg_len);
	FIELD(struct nlmsghdr, "nlmsghdr", nlmsg_type);
	FIELD(struct nlmsghdr, "nlmsghdr", nlmsg_flags);
	FIELD(struct nlmsghdr, "nlmsghdr", nlmsg_seq);
	FIELD(struct nlmsghdr, "nlmsghdr", nlmsg_pid);
	SIZE(struct nlmsgerr, "nlmsgerr");
	FIELD(struct nlmsgerr, "nlmsgerr", error);
	FIELD(struct nlmsgerr, "nlmsgerr", msg);
	SIZE(struct nlattr, "nlattr");
	FIELD(struct nlattr, "nlattr", nla_len);
	FIELD(struct nlattr, "nlattr", nla_type);

	SIZE(struct unix_diag_req, "unix_diag_req");
	FIELD(struct unix_diag_req, "unix_diag_req", sdiag_family);
	FIELD(struct unix_diag_req, "unix_diag_req", sdiag_protocol);
	FIELD(struct unix_diag_req, "unix_diag_req", pad);
	FIELD(struct unix_diag_req, "unix_diag_req", udiag_states);
	FIELD(struct unix_diag_req, "unix_diag_req", udiag_ino);
	FIELD(struct unix_diag_req, "unix_diag_req", udiag_show);
	FIELD(struct unix_diag_req, "unix_diag_req", udiag_cookie);
	SIZE(struct unix_diag_msg, "unix_diag_msg");
	FIELD(struct unix_diag_msg, "unix_diag_msg", udiag_family);
	FIELD(struct unix_diag_msg, "unix_diag_msg", udiag_type);
	FIELD(struct unix_diag_msg, "unix_diag_msg", udiag_state);
	FIELD(struct unix_diag_msg, "unix_diag_msg", pad);
	FIELD(struct unix_diag_msg, "unix_diag_msg", udiag_ino);
	FIELD(struct unix_diag_msg, "unix_diag_msg", udiag_cookie);
	SIZE(struct unix_diag_vfs, "unix_diag_vfs");
	FIELD(struct unix_diag_vfs, "unix_diag_vfs", udiag_vfs_ino);
	FIELD(struct unix_diag_vfs, "unix_diag_vfs", udiag_vfs_dev);
	SIZE(struct unix_diag_rqlen, "unix_diag_rqlen");
	FIELD(struct unix_diag_rqlen, "unix_diag_rqlen", udiag_rqueue);
	FIELD(struct unix_diag_rqlen, "unix_diag_rqlen", udiag_wqueue);

	SIZE(struct inet_diag_sockid, "inet_diag_sockid");
	FIELD(struct inet_diag_sockid, "inet_diag_sockid", idiag_sport);
	FIELD(struct inet_diag_sockid, "inet_diag_sockid", idiag_dport);
	FIELD(struct inet_diag_sockid, "inet_diag_sockid", idiag_src);
	FIELD(struct inet_diag_sockid, "inet_diag_sockid", idiag_dst);
	FIELD(struct inet_diag_sockid, "inet_diag_sockid", idiag_if);
	FIELD(struct inet_diag_sockid, "inet_diag_sockid", idiag_cookie);
	SIZE(struct inet_diag_req_v2, "inet_diag_req_v2");
	FIELD(struct inet_diag_req_v2, "inet_diag_req_v2", sdiag_family);
	FIELD(struct inet_diag_req_v2, "inet_diag_req_v2", sdiag_protocol);
	FIELD(struct inet_diag_req_v2, "inet_diag_req_v2", idiag_ext);
	FIELD(struct inet_diag_req_v2, "inet_diag_req_v2", pad);
	FIELD(struct inet_diag_req_v2, "inet_diag_req_v2", idiag_states);
	FIELD(struct inet_diag_req_v2, "inet_diag_req_v2", id);
	SIZE(struct inet_diag_msg, "inet_diag_msg");
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_family);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_state);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_timer);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_retrans);
	FIELD(struct inet_diag_msg, "inet_diag_msg", id);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_expires);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_rqueue);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_wqueue);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_uid);
	FIELD(struct inet_diag_msg, "inet_diag_msg", idiag_inode);

	/* src/sys/netlink.ts */
	CONST(NETLINK_ROUTE); CONST(NETLINK_SOCK_DIAG);
	CONST(NLM_F_REQUEST); CONST(NLM_F_MULTI); CONST(NLM_F_ACK); CONST(NLM_F_ROOT); CONST(NLM_F_MATCH);
	CONST(NLM_F_DUMP); CONST(NLMSG_NOOP); CONST(NLMSG_ERROR); CONST(NLMSG_DONE);
	/* an int mask (~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)) applied to a 16-bit type */
	printf("const NLA_TYPE_MASK %d\n", NLA_TYPE_MASK & 0xffff);

	/* src/net/sock_diag.ts */
	CONST(SOCK_DIAG_BY_FAMILY); CONST(INET_DIAG_NOCOOKIE);
	CONST(UDIAG_SHOW_NAME); CONST(UDIAG_SHOW_VFS); CONST(UDIAG_SHOW_PEER); CONST(UDIAG_SHOW_ICONS);
	CONST(UDIAG_SHOW_RQLEN); CONST(UDIAG_SHOW_MEMINFO); CONST(UDIAG_SHOW_UID);
	CONST(UNIX_DIAG_NAME); CONST(UNIX_DIAG_VFS); CONST(UNIX_DIAG_PEER); CONST(UNIX_DIAG_ICONS);
	CONST(UNIX_DIAG_RQLEN); CONST(UNIX_DIAG_MEMINFO); CONST(UNIX_DIAG_SHUTDOWN); CONST(UNIX_DIAG_UID);
	CONST(INET_DIAG_SHUTDOWN); CONST(INET_DIAG_SKV6ONLY);

	/* src/net/constants.ts */
	CONST(SO_RCVTIMEO); CONST(SO_SNDTIMEO); CONST(SO_GET_FILTER); CONST(SO_PASSSEC); CONST(SO_BUF_LOCK);
	CONST(SOL_UDP); CONST(UDP_CORK); CONST(IPPROTO_UDPLITE); CONST(IP_TOS); CONST(IP_TTL);
	CONST(IP_PKTINFO); CONST(IP_FREEBIND); CONST(IPV6_V6ONLY); CONST(IPV6_RECVPKTINFO);
	CONST(IPV6_FREEBIND); CONST(TCP_INFO); CONST(SIOCUNIXFILE); CONST(SIOCGSKNS);
	CONST(IPPROTO_ICMP); CONST(IPPROTO_ICMPV6); CONST(IP_HDRINCL); CONST(IP_NODEFRAG);
	CONST(IPV6_CHECKSUM); CONST(IPV6_HDRINCL); CONST(SOL_RAW); CONST(ICMP_FILTER); CONST(ICMPV6_FILTER);
	CONST(TCP_ESTABLISHED); CONST(TCP_SYN_SENT); CONST(TCP_SYN_RECV); CONST(TCP_FIN_WAIT1);
	CONST(TCP_FIN_WAIT2); CONST(TCP_TIME_WAIT); CONST(TCP_CLOSE); CONST(TCP_CLOSE_WAIT);
	CONST(TCP_LAST_ACK); CONST(TCP_LISTEN); CONST(TCP_CLOSING);
	return 0;
}

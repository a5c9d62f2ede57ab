/*
 * Prints what the C headers say about the packet_diag and netlink_diag structs, the packet and
 * netlink socket addresses and options of src/net/packet_diag.ts and src/net/netlink_diag.ts, one
 * fact per line (the format of net_layout_probe.c):
 *
 *   size <layout> <sizeof>
 *   field <layout>.<field> <offsetof> <sizeof>
 *   const <C name> <value>
 *
 * Built and run by test/unit/net-packet-netlink-layout.test.ts.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/if_packet.h>
#include <linux/packet_diag.h>
#include <linux/netlink_diag.h>

#define SIZE(type, label) printf("size %s %zu\n", label, sizeof(type))
#define FIELD(type, label, f) printf("field %s.%s %zu %zu\n", label, #f, offsetof(type, f), sizeof(((type *)0)->f))
#define CONST(name) printf("const %s %lld\n", #name, (long long)(name))

int main(void)
{
	SIZE(struct packet_diag_req, "packet_diag_req");
	FIELD(struct packet_diag_req, "packet_diag_req", sdiag_family);
	FIELD(struct packet_diag_req, "packet_diag_req", sdiag_protocol);
	FIELD(struct packet_diag_req, "packet_diag_req", pad);
	FIELD(struct packet_diag_req, "packet_diag_req", pdiag_ino);
	FIELD(struct packet_diag_req, "packet_diag_req", pdiag_show);
	FIELD(struct packet_diag_req, "packet_diag_req", pdiag_cookie);

	SIZE(struct packet_diag_msg, "packet_diag_msg");
	FIELD(struct packet_diag_msg, "packet_diag_msg", pdiag_family);
	FIELD(struct packet_diag_msg, "packet_diag_msg", pdiag_type);
	FIELD(struct packet_diag_msg, "packet_diag_msg", pdiag_num);
	FIELD(struct packet_diag_msg, "packet_diag_msg", pdiag_ino);
	FIELD(struct packet_diag_msg, "packet_diag_msg", pdiag_cookie);

	SIZE(struct packet_diag_info, "packet_diag_info");
	FIELD(struct packet_diag_info, "packet_diag_info", pdi_index);
	FIELD(struct packet_diag_info, "packet_diag_info", pdi_version);
	FIELD(struct packet_diag_info, "packet_diag_info", pdi_reserve);
	FIELD(struct packet_diag_info, "packet_diag_info", pdi_copy_thresh);
	FIELD(struct packet_diag_info, "packet_diag_info", pdi_tstamp);
	FIELD(struct packet_diag_info, "packet_diag_info", pdi_flags);

	SIZE(struct packet_diag_mclist, "packet_diag_mclist");
	FIELD(struct packet_diag_mclist, "packet_diag_mclist", pdmc_index);
	FIELD(struct packet_diag_mclist, "packet_diag_mclist", pdmc_count);
	FIELD(struct packet_diag_mclist, "packet_diag_mclist", pdmc_type);
	FIELD(struct packet_diag_mclist, "packet_diag_mclist", pdmc_alen);
	FIELD(struct packet_diag_mclist, "packet_diag_mclist", pdmc_addr);

	SIZE(struct packet_diag_ring, "packet_diag_ring");
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_block_size);
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_block_nr);
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_frame_size);
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_frame_nr);
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_retire_tmo);
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_sizeof_priv);
	FIELD(struct packet_diag_ring, "packet_diag_ring", pdr_features);

	SIZE(struct packet_mreq, "packet_mreq");
	FIELD(struct packet_mreq, "packet_mreq", mr_ifindex);
	FIELD(struct packet_mreq, "packet_mreq", mr_type);
	FIELD(struct packet_mreq, "packet_mreq", mr_alen);
	FIELD(struct packet_mreq, "packet_mreq", mr_address);

	SIZE(struct sockaddr_ll, "sockaddr_ll");
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_family);
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_protocol);
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_ifindex);
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_hatype);
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_pkttype);
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_halen);
	FIELD(struct sockaddr_ll, "sockaddr_ll", sll_addr);

	SIZE(struct netlink_diag_req, "netlink_diag_req");
	FIELD(struct netlink_diag_req, "netlink_diag_req", sdiag_family);
	FIELD(struct netlink_diag_req, "netlink_diag_req", sdiag_protocol);
	FIELD(struct netlink_diag_req, "netlink_diag_req", pad);
	FIELD(struct netlink_diag_req, "netlink_diag_req", ndiag_ino);
	FIELD(struct netlink_diag_req, "netlink_diag_req", ndiag_show);
	FIELD(struct netlink_diag_req, "netlink_diag_req", ndiag_cookie);

	SIZE(struct netlink_diag_msg, "netlink_diag_msg");
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_family);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_type);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_protocol);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_state);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_portid);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_dst_portid);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_dst_group);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_ino);
	FIELD(struct netlink_diag_msg, "netlink_diag_msg", ndiag_cookie);

	SIZE(struct sockaddr_nl, "sockaddr_nl");
	FIELD(struct sockaddr_nl, "sockaddr_nl", nl_family);
	FIELD(struct sockaddr_nl, "sockaddr_nl", nl_pad);
	FIELD(struct sockaddr_nl, "sockaddr_nl", nl_pid);
	FIELD(struct sockaddr_nl, "sockaddr_nl", nl_groups);

	CONST(PACKET_SHOW_INFO);
	CONST(PACKET_SHOW_MCLIST);
	CONST(PACKET_SHOW_RING_CFG);
	CONST(PACKET_SHOW_FANOUT);
	CONST(PACKET_SHOW_MEMINFO);
	CONST(PACKET_SHOW_FILTER);
	CONST(PACKET_DIAG_INFO);
	CONST(PACKET_DIAG_MCLIST);
	CONST(PACKET_DIAG_RX_RING);
	CONST(PACKET_DIAG_TX_RING);
	CONST(PACKET_DIAG_FANOUT);
	CONST(PACKET_DIAG_UID);
	CONST(PACKET_DIAG_MEMINFO);
	CONST(PACKET_DIAG_FILTER);
	CONST(PDI_RUNNING);
	CONST(PDI_AUXDATA);
	CONST(PDI_ORIGDEV);
	CONST(PDI_VNETHDR);
	CONST(PDI_LOSS);
	CONST(PACKET_ADD_MEMBERSHIP);
	CONST(PACKET_DROP_MEMBERSHIP);
	CONST(PACKET_RX_RING);
	CONST(PACKET_COPY_THRESH);
	CONST(PACKET_AUXDATA);
	CONST(PACKET_ORIGDEV);
	CONST(PACKET_VERSION);
	CONST(PACKET_RESERVE);
	CONST(PACKET_TX_RING);
	CONST(PACKET_LOSS);
	CONST(PACKET_VNET_HDR);
	CONST(PACKET_TIMESTAMP);
	CONST(PACKET_FANOUT);
	CONST(PACKET_TX_HAS_OFF);
	CONST(PACKET_QDISC_BYPASS);
	CONST(PACKET_IGNORE_OUTGOING);
	CONST(PACKET_MR_MULTICAST);
	CONST(PACKET_MR_PROMISC);
	CONST(PACKET_MR_ALLMULTI);
	CONST(PACKET_MR_UNICAST);
	CONST(PACKET_FANOUT_HASH);
	CONST(PACKET_FANOUT_LB);
	CONST(PACKET_FANOUT_CPU);
	CONST(PACKET_FANOUT_ROLLOVER);
	CONST(PACKET_FANOUT_RND);
	CONST(PACKET_FANOUT_QM);
	CONST(PACKET_FANOUT_CBPF);
	CONST(PACKET_FANOUT_EBPF);
	CONST(PACKET_FANOUT_FLAG_ROLLOVER);
	CONST(PACKET_FANOUT_FLAG_UNIQUEID);
	CONST(PACKET_FANOUT_FLAG_DEFRAG);
	CONST(SOCK_PACKET);
	CONST(NDIAG_PROTO_ALL);
	CONST(NDIAG_SHOW_MEMINFO);
	CONST(NDIAG_SHOW_GROUPS);
	CONST(NDIAG_SHOW_FLAGS);
	CONST(NETLINK_DIAG_MEMINFO);
	CONST(NETLINK_DIAG_GROUPS);
	CONST(NETLINK_DIAG_RX_RING);
	CONST(NETLINK_DIAG_TX_RING);
	CONST(NETLINK_DIAG_FLAGS);
	CONST(NDIAG_FLAG_CB_RUNNING);
	CONST(NDIAG_FLAG_PKTINFO);
	CONST(NDIAG_FLAG_BROADCAST_ERROR);
	CONST(NDIAG_FLAG_NO_ENOBUFS);
	CONST(NDIAG_FLAG_LISTEN_ALL_NSID);
	CONST(NDIAG_FLAG_CAP_ACK);
	CONST(NETLINK_ADD_MEMBERSHIP);
	CONST(NETLINK_DROP_MEMBERSHIP);
	CONST(NETLINK_PKTINFO);
	CONST(NETLINK_BROADCAST_ERROR);
	CONST(NETLINK_NO_ENOBUFS);
	CONST(NETLINK_LISTEN_ALL_NSID);
	CONST(NETLINK_LIST_MEMBERSHIPS);
	CONST(NETLINK_CAP_ACK);
	CONST(NETLINK_EXT_ACK);
	CONST(NETLINK_GET_STRICT_CHK);
	CONST(NETLINK_UNCONNECTED);
	CONST(NETLINK_CONNECTED);
	return 0;
}

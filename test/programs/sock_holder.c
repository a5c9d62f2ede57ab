/*
 * Holds at fd 3 a socket of a family the dump refuses: the first this kernel can make of
 * AF_VSOCK, AF_XDP, AF_ALG and AF_KEY (Unix, inet, packet and netlink sockets are all dumped).
 */
#include "common.h"
#include <sys/socket.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif

int main(void)
{
	static const int kinds[][2] = { { AF_VSOCK, SOCK_STREAM }, { AF_XDP, SOCK_RAW }, { AF_ALG, SOCK_SEQPACKET }, { AF_KEY, SOCK_RAW } };
	catch_term();
	int fd = -1;
	for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0] && fd < 0; i++)
		fd = socket(kinds[i][0], kinds[i][1], kinds[i][0] == AF_KEY ? 2 /* PF_KEY_V2 */ : 0);
	if (fd != 3)
		return 3;
	signal_ready();
	while (!terminated)
		pause();
	return 0;
}

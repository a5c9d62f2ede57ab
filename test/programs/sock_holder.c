/* Holds a netlink socket (NETLINK_ROUTE) at fd 3, a kind of socket the dump refuses. */
#include "common.h"
#include <linux/netlink.h>
#include <sys/socket.h>

int main(void)
{
	catch_term();
	if (socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) != 3)
		return 3;
	signal_ready();
	while (!terminated)
		pause();
	return 0;
}

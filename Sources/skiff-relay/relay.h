/* skiff-relay's own declarations; the relay loop and the log are CRelay's (skiff_relay.h). */
#ifndef SKIFF_RELAY_MAIN_H
#define SKIFF_RELAY_MAIN_H

#include <skiff_relay.h>

/* keeper.c: `skiff-relay --keep-userns SOCKET-PATH IDLE-SECONDS`, the user namespace keeper. */
int keeper_main(int argc, char **argv);
/* What both keepers do before they serve: stdio on /dev/null, SIGPIPE/SIGHUP/SIGINT ignored, cwd
 * `/`; chdir's result. */
int keeper_detach(void);
/* CLOCK_MONOTONIC in seconds, for the keepers' idle time. */
long long keeper_now(void);
/* userns_census.c: whether another process is in the user namespace of `namespace_fd`. */
int userns_in_use(int namespace_fd);

/* netns.c: `skiff-relay --keep-netns SOCKET-PATH IDLE-SECONDS USERNS-FD|-`, the per-user network
 * namespace of user-defined networks; netlink.c: its rtnetlink requests (0 or -errno). */
#include <netinet/in.h>
int netns_keeper_main(int argc, char **argv);
/* portfwd.c: `skiff-relay --forward-ports ...`, the TCP forwarder of published ports. */
int portfwd_main(int argc, char **argv);
int nl_open(void);
int nl_bridge_add(int fd, const char *name, unsigned mtu);
int nl_link_up(int fd, int index);
int nl_link_delete(int fd, int index);
int nl_address_add(int fd, int index, struct in_addr address, unsigned prefix);
int nl_default_route(int fd, int index, struct in_addr gateway);
/* An IPv6 address without duplicate address detection (the link is the keeper's own); one
 * already there is not an error. */
int nl_address6_add(int fd, int index, const struct in6_addr *address, unsigned prefix);
int nl_default_route6(int fd, int index, const struct in6_addr *gateway);
int nl_veth_add(int fd, int master, unsigned mtu, const char *peer_name, const unsigned char mac[6], int netns_fd);
int nl_links(int fd, void (*visit)(void *context, int index, const char *name, const char *kind, int master),
             void *context);

#endif

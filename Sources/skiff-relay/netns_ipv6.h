/* netns_ipv6.c: IPv6 on user-defined networks in the network namespace keeper (docs/networking.md,
 * "IPv6"): the `attach` request's last two tokens, `ADDRESS6/PREFIX6 GATEWAY6` (the netlink
 * requests that apply them are netlink.c's nl_address6_add and nl_default_route6). */
#ifndef SKIFF_NETNS_IPV6_H
#define SKIFF_NETNS_IPV6_H

#include <netinet/in.h>

struct ipv6_endpoint {
    int present;             /* 0: an IPv4-only network (the older forms) */
    struct in6_addr address; /* the container's */
    unsigned prefix;
    struct in6_addr gateway; /* the bridge's */
};

/* Takes `ADDRESS6/PREFIX6 GATEWAY6` off the end of `rest` (`NAMES UPSTREAMS ADDRESS6/PREFIX6
 * GATEWAY6`: the text is cut after UPSTREAMS), fills `endpoint`; nothing there: not present. 0 or
 * -1 when they do not parse. */
int ipv6_endpoint_take(char *rest, struct ipv6_endpoint *endpoint);

#endif

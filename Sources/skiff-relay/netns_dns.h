/* netns_dns.c: the network namespace keeper's DNS responder (docs/networking.md, "Names between
 * containers"). */
#ifndef SKIFF_RELAY_NETNS_DNS_H
#define SKIFF_RELAY_NETNS_DNS_H

#include <netinet/in.h>

#define DNS_MAX_NAMES 16
#define DNS_NAMES_BYTES 512
#define DNS_MAX_UPSTREAMS 3
#define DNS_MAX_LINKS 8

/* What an `attach` request's added tokens say: the container's names on this network and the
 * servers its other names go to (none: the host's resolv.conf's). */
struct dns_endpoint {
    char names[DNS_NAMES_BYTES]; /* each lowercase, NUL-terminated, one after another */
    int name_count;
    struct in_addr upstreams[DNS_MAX_UPSTREAMS];
    int upstream_count;
    /* The container's links on this network: ALIAS then NAME, each NUL-terminated, per link; a
     * query of this container for ALIAS is answered as one for NAME (moby's link aliases). */
    char links[DNS_NAMES_BYTES];
    int link_count;
    int veth; /* the keeper's end of the container's veth pair (found in the container's namespace) */
    int has_address6;         /* on an IPv6 network: its IPv6 address, for AAAA (netns_ipv6.c) */
    struct in6_addr address6;
};

/* Before the keeper leaves the host's network namespace: the socket other names are forwarded
 * through. 0 or -errno. */
int dns_init(void);
/* `NAMES UPSTREAMS [LINKS]` after an attach request's eight tokens (each a comma-separated list or
 * `-`, LINKS `ALIAS=NAME,...`; all missing: the older form, no names). 0, or -1 when they do not parse. */
int dns_endpoint_parse(const char *text, struct dns_endpoint *endpoint);
/* In the container's namespace: the index of the peer of its interface `index`, in the keeper's
 * namespace (its IFLA_LINK). 0 or -errno. */
int dns_peer_link(int netlink, int index, int *peer);
/* After the container's interface is made: the responder of the bridge (UDP and TCP port 53 on its
 * gateway address) opened when it is not, and the container's names recorded. 0 or -errno. */
int dns_add(const char *bridge, struct in_addr gateway, struct in_addr address, const struct dns_endpoint *endpoint);
/* The descriptor the keeper polls (readable when a query or an upstream's answer waits), -1. */
int dns_poll_fd(void);
/* Answers what waits; never blocks. */
void dns_serve(void);
/* Drops the records of veths that went and the responders of bridges that went. */
void dns_sweep(void);

#endif

/*
 * The rtnetlink requests the network namespace keeper (netns.c) makes: a bridge with its gateway
 * address, a veth pair whose peer goes into a container's network namespace, the peer's address
 * and default route, and the dump of links it counts its containers by. Each request is one
 * message on a NETLINK_ROUTE socket of the calling thread's current network namespace, answered
 * by an acknowledgement (0 or -errno).
 */
#define _GNU_SOURCE
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NL_BUFFER 4096

struct nl_request {
    struct nlmsghdr *header;
    char bytes[NL_BUFFER];
};

static unsigned nl_sequence = 1;

int nl_open(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    return fd < 0 ? -errno : fd;
}

static void *nl_start(struct nl_request *request, int type, int flags, size_t body) {
    memset(request->bytes, 0, sizeof request->bytes);
    request->header = (struct nlmsghdr *)request->bytes;
    request->header->nlmsg_len = NLMSG_LENGTH(body);
    request->header->nlmsg_type = (unsigned short)type;
    request->header->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
    request->header->nlmsg_seq = nl_sequence++;
    return NLMSG_DATA(request->header);
}

static struct rtattr *nl_attr(struct nl_request *request, int type, const void *data, size_t length) {
    size_t at = NLMSG_ALIGN(request->header->nlmsg_len);
    struct rtattr *attr = (struct rtattr *)(request->bytes + at);
    attr->rta_type = (unsigned short)type;
    attr->rta_len = (unsigned short)RTA_LENGTH(length);
    if (length) memcpy(RTA_DATA(attr), data, length);
    request->header->nlmsg_len = (unsigned)(at + RTA_ALIGN(attr->rta_len));
    return attr;
}

static struct rtattr *nl_nest(struct nl_request *request, int type) {
    return nl_attr(request, type, NULL, 0);
}

static void nl_end(struct nl_request *request, struct rtattr *nest) {
    nest->rta_len = (unsigned short)(request->bytes + request->header->nlmsg_len - (char *)nest);
}

/* Sends the request and waits for its acknowledgement: 0 or -errno. */
static int nl_talk(int fd, struct nl_request *request) {
    request->header->nlmsg_flags |= NLM_F_ACK;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(fd, request->bytes, request->header->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -errno;
    char reply[NL_BUFFER];
    for (;;) {
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != request->header->nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        }
    }
}

int nl_bridge_add(int fd, const char *name, unsigned mtu) {
    struct nl_request request;
    struct ifinfomsg *info = nl_start(&request, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *info);
    info->ifi_family = AF_UNSPEC;
    info->ifi_flags = IFF_UP;
    info->ifi_change = IFF_UP;
    nl_attr(&request, IFLA_IFNAME, name, strlen(name) + 1);
    if (mtu) nl_attr(&request, IFLA_MTU, &mtu, sizeof mtu);
    struct rtattr *linkinfo = nl_nest(&request, IFLA_LINKINFO);
    nl_attr(&request, IFLA_INFO_KIND, "bridge", strlen("bridge"));
    nl_end(&request, linkinfo);
    return nl_talk(fd, &request);
}

int nl_link_up(int fd, int index) {
    struct nl_request request;
    struct ifinfomsg *info = nl_start(&request, RTM_NEWLINK, 0, sizeof *info);
    info->ifi_family = AF_UNSPEC;
    info->ifi_index = index;
    info->ifi_flags = IFF_UP;
    info->ifi_change = IFF_UP;
    return nl_talk(fd, &request);
}

int nl_link_delete(int fd, int index) {
    struct nl_request request;
    struct ifinfomsg *info = nl_start(&request, RTM_DELLINK, 0, sizeof *info);
    info->ifi_family = AF_UNSPEC;
    info->ifi_index = index;
    return nl_talk(fd, &request);
}

int nl_address_add(int fd, int index, struct in_addr address, unsigned prefix) {
    struct nl_request request;
    struct ifaddrmsg *message = nl_start(&request, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *message);
    message->ifa_family = AF_INET;
    message->ifa_prefixlen = (unsigned char)prefix;
    message->ifa_index = (unsigned)index;
    nl_attr(&request, IFA_LOCAL, &address, sizeof address);
    nl_attr(&request, IFA_ADDRESS, &address, sizeof address);
    if (prefix < 31) {
        struct in_addr broadcast = {address.s_addr | htonl(prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1)};
        nl_attr(&request, IFA_BROADCAST, &broadcast, sizeof broadcast);
    }
    return nl_talk(fd, &request);
}

/* The default route of `family` via `gateway` (`length` bytes) on interface `index`. */
static int nl_default_route_of(int fd, int index, unsigned char family, const void *gateway, size_t length) {
    struct nl_request request;
    struct rtmsg *route = nl_start(&request, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *route);
    route->rtm_family = family;
    route->rtm_table = RT_TABLE_MAIN;
    route->rtm_protocol = RTPROT_BOOT;
    route->rtm_scope = RT_SCOPE_UNIVERSE;
    route->rtm_type = RTN_UNICAST;
    nl_attr(&request, RTA_GATEWAY, gateway, length);
    unsigned oif = (unsigned)index;
    nl_attr(&request, RTA_OIF, &oif, sizeof oif);
    return nl_talk(fd, &request);
}

int nl_default_route(int fd, int index, struct in_addr gateway) {
    return nl_default_route_of(fd, index, AF_INET, &gateway, sizeof gateway);
}

int nl_address6_add(int fd, int index, const struct in6_addr *address, unsigned prefix) {
    struct nl_request request;
    struct ifaddrmsg *message = nl_start(&request, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *message);
    message->ifa_family = AF_INET6;
    message->ifa_prefixlen = (unsigned char)prefix;
    message->ifa_flags = IFA_F_NODAD;
    message->ifa_index = (unsigned)index;
    nl_attr(&request, IFA_LOCAL, address, sizeof *address);
    nl_attr(&request, IFA_ADDRESS, address, sizeof *address);
    int rc = nl_talk(fd, &request);
    return rc == -EEXIST ? 0 : rc;
}

int nl_default_route6(int fd, int index, const struct in6_addr *gateway) {
    return nl_default_route_of(fd, index, AF_INET6, gateway, sizeof *gateway);
}

/* A veth pair: this end (named by the kernel, vethN) up on `master`, the peer `peer_name` with
 * `mac` in the namespace `netns_fd`. */
int nl_veth_add(int fd, int master, unsigned mtu, const char *peer_name, const unsigned char mac[6], int netns_fd) {
    struct nl_request request;
    struct ifinfomsg *info = nl_start(&request, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *info);
    info->ifi_family = AF_UNSPEC;
    info->ifi_flags = IFF_UP;
    info->ifi_change = IFF_UP;
    if (mtu) nl_attr(&request, IFLA_MTU, &mtu, sizeof mtu);
    unsigned master_index = (unsigned)master;
    nl_attr(&request, IFLA_MASTER, &master_index, sizeof master_index);
    struct rtattr *linkinfo = nl_nest(&request, IFLA_LINKINFO);
    nl_attr(&request, IFLA_INFO_KIND, "veth", strlen("veth"));
    struct rtattr *data = nl_nest(&request, IFLA_INFO_DATA);
    struct rtattr *peer = nl_nest(&request, VETH_INFO_PEER);
    struct ifinfomsg peer_info = {.ifi_family = AF_UNSPEC};
    size_t at = NLMSG_ALIGN(request.header->nlmsg_len);
    memcpy(request.bytes + at, &peer_info, sizeof peer_info);
    request.header->nlmsg_len = (unsigned)(at + NLMSG_ALIGN(sizeof peer_info));
    nl_attr(&request, IFLA_IFNAME, peer_name, strlen(peer_name) + 1);
    nl_attr(&request, IFLA_ADDRESS, mac, 6);
    if (mtu) nl_attr(&request, IFLA_MTU, &mtu, sizeof mtu);
    nl_attr(&request, IFLA_NET_NS_FD, &netns_fd, sizeof netns_fd);
    nl_end(&request, peer);
    nl_end(&request, data);
    nl_end(&request, linkinfo);
    return nl_talk(fd, &request);
}

/* Calls `visit` for every link of the namespace with its index, name, kind ("" when none) and
 * master (0 when none). 0 or -errno. */
int nl_links(int fd, void (*visit)(void *context, int index, const char *name, const char *kind, int master),
             void *context) {
    struct nl_request request;
    struct ifinfomsg *info = nl_start(&request, RTM_GETLINK, NLM_F_DUMP, sizeof *info);
    info->ifi_family = AF_UNSPEC;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(fd, request.bytes, request.header->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -errno;
    static char reply[32768];
    for (;;) {
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != request.header->nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_DONE) return 0;
            if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (h->nlmsg_type != RTM_NEWLINK) continue;
            struct ifinfomsg *link = NLMSG_DATA(h);
            int length = (int)IFLA_PAYLOAD(h);
            const char *name = "";
            char kind[32] = "";
            int master = 0;
            for (struct rtattr *a = IFLA_RTA(link); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
                if (a->rta_type == IFLA_IFNAME) name = RTA_DATA(a);
                if (a->rta_type == IFLA_MASTER) master = *(int *)RTA_DATA(a);
                if (a->rta_type == IFLA_LINKINFO) {
                    int inner = (int)RTA_PAYLOAD(a);
                    for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, inner); b = RTA_NEXT(b, inner)) {
                        if (b->rta_type != IFLA_INFO_KIND) continue;
                        size_t k = RTA_PAYLOAD(b) < sizeof kind - 1 ? RTA_PAYLOAD(b) : sizeof kind - 1;
                        memcpy(kind, RTA_DATA(b), k);
                        kind[k] = 0;
                    }
                }
            }
            visit(context, link->ifi_index, name, kind, master);
        }
    }
}

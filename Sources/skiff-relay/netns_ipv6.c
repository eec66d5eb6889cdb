/* IPv6 on user-defined networks in the network namespace keeper: netns_ipv6.h. */
#define _GNU_SOURCE
#include "netns_ipv6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int ipv6_endpoint_take(char *rest, struct ipv6_endpoint *endpoint) {
    memset(endpoint, 0, sizeof *endpoint);
    /* Past NAMES and UPSTREAMS (two tokens). */
    char *p = rest;
    for (int token = 0; token < 2; token++) {
        while (*p == ' ') p++;
        if (*p == '\0') return 0;
        while (*p && *p != ' ') p++;
    }
    char *cut = p;
    while (*p == ' ') p++;
    if (*p == '\0') return 0;
    /* LINKS (`ALIAS=NAME,...` or `-`, no colon) may come first: it stays for dns_endpoint_parse. */
    char *token_end = p;
    while (*token_end && *token_end != ' ') token_end++;
    if (memchr(p, ':', (size_t)(token_end - p)) == NULL) {
        cut = token_end;
        p = token_end;
        while (*p == ' ') p++;
        if (*p == '\0') return 0;
    }
    char address[64], gateway[64], extra[2];
    unsigned prefix = 0;
    if (sscanf(p, "%63[0-9a-fA-F:]/%u %63s %1s", address, &prefix, gateway, extra) != 3 || prefix == 0 || prefix > 128 ||
        inet_pton(AF_INET6, address, &endpoint->address) != 1 || inet_pton(AF_INET6, gateway, &endpoint->gateway) != 1) {
        return -1;
    }
    endpoint->prefix = prefix;
    endpoint->present = 1;
    *cut = '\0';
    return 0;
}

struct ipv6_request {
    struct nlmsghdr header;
    char body[512];
};

static unsigned ipv6_sequence = 1;

static void ipv6_attr(struct ipv6_request *request, int type, const void *data, size_t length) {
    size_t at = NLMSG_ALIGN(request->header.nlmsg_len);
    struct rtattr *attr = (struct rtattr *)((char *)request + at);
    attr->rta_type = (unsigned short)type;
    attr->rta_len = (unsigned short)RTA_LENGTH(length);
    memcpy(RTA_DATA(attr), data, length);
    request->header.nlmsg_len = (unsigned)(at + RTA_ALIGN(attr->rta_len));
}

/* Sends the request and waits for its acknowledgement: 0 or -errno. */
static int ipv6_talk(int fd, struct ipv6_request *request) {
    request->header.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    request->header.nlmsg_seq = ipv6_sequence++;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(fd, request, request->header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -errno;
    char reply[4096];
    for (;;) {
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != request->header.nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        }
    }
}

int ipv6_address_add(int fd, int index, const struct in6_addr *address, unsigned prefix) {
    struct ipv6_request request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_type = RTM_NEWADDR;
    request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    struct ifaddrmsg *message = NLMSG_DATA(&request.header);
    message->ifa_family = AF_INET6;
    message->ifa_prefixlen = (unsigned char)prefix;
    message->ifa_flags = IFA_F_NODAD;
    message->ifa_index = (unsigned)index;
    ipv6_attr(&request, IFA_LOCAL, address, sizeof *address);
    ipv6_attr(&request, IFA_ADDRESS, address, sizeof *address);
    int rc = ipv6_talk(fd, &request);
    return rc == -EEXIST ? 0 : rc;
}

int ipv6_default_route(int fd, int index, const struct in6_addr *gateway) {
    struct ipv6_request request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_type = RTM_NEWROUTE;
    request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    struct rtmsg *route = NLMSG_DATA(&request.header);
    route->rtm_family = AF_INET6;
    route->rtm_table = RT_TABLE_MAIN;
    route->rtm_protocol = RTPROT_BOOT;
    route->rtm_scope = RT_SCOPE_UNIVERSE;
    route->rtm_type = RTN_UNICAST;
    ipv6_attr(&request, RTA_GATEWAY, gateway, sizeof *gateway);
    unsigned oif = (unsigned)index;
    ipv6_attr(&request, RTA_OIF, &oif, sizeof oif);
    return ipv6_talk(fd, &request);
}

/* IPv6 on user-defined networks in the network namespace keeper: netns_ipv6.h. */
#define _GNU_SOURCE
#include "netns_ipv6.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

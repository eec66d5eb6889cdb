/*
 * The network namespace keeper's DNS responder (docs/networking.md, "Names between containers";
 * docs/decisions.md says why Skiff's own and not aardvark-dns): aardvark-dns's role, in the
 * keeper's own process.
 *
 * Each bridge gets a UDP socket and a TCP listener (queries with their length first) on port 53
 * of its gateway address, bound to the bridge
 * (SO_BINDTODEVICE: a container on another network reaching this address through its own
 * gateway is not answered). A query for a name of a container on THAT network (its name, its
 * aliases, its short id; case-insensitive) is answered here with the container's address (A;
 * other types an empty NOERROR; the reverse name of its address a PTR); any other name goes to
 * the upstream servers (the container's `--dns` ones, else the host's resolv.conf's) through
 * one socket opened in the host's network namespace before the keeper made its own, so
 * forwarding needs no uplink and reaches loopback servers. The answer goes back with the
 * query's id. Tables are bounded; a packet that does not parse is dropped.
 *
 * A container's records go with its veth: looked up at each answer (the veth's index and name)
 * and swept with the bridges the keeper removes.
 */
#define _GNU_SOURCE
#include "netns_dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DNS_MAX_NETWORKS 64
#define DNS_MAX_RECORDS 1024
#define DNS_MAX_PENDING 256
#define DNS_PACKET 4096
#define DNS_TTL 60
#define DNS_FORWARD_SECONDS 5
#define DNS_MAX_TCP 32
#define DNS_TCP_SECONDS 10
#define UPSTREAM_SLOT 0xffffffffu
#define TCP_LISTENER 0x10000u /* | the network's slot */
#define TCP_CONNECTION 0x20000u /* | the connection's slot */

struct dns_network {
    int used;
    char bridge[IFNAMSIZ];
    int bridge_index;
    struct in_addr gateway;
    int fd;
    int tcp; /* the listener */
};

/* Where an answer goes: a UDP client of the network's socket, or a TCP connection (its slot + 1
 * and generation, so that an answer never reaches a connection made since in the same slot). */
struct dns_client {
    int network;
    struct sockaddr_in address;
    int tcp;
    unsigned generation;
};

struct dns_tcp {
    int fd;
    unsigned generation;
    int network;
    struct in_addr address;
    long long deadline;
    size_t have;
    unsigned char buffer[2 + 1536];
};

struct dns_record {
    int used;
    int network;
    int veth;
    char veth_name[IFNAMSIZ];
    struct in_addr address;
    struct dns_endpoint endpoint;
};

struct dns_pending {
    int used;
    uint16_t id;        /* the id sent upstream */
    uint16_t client_id; /* the query's own */
    struct dns_client client;
    struct in_addr servers[DNS_MAX_UPSTREAMS];
    int server_count;
    long long deadline;
};

static struct {
    int epoll;
    int ioctl_fd; /* in the keeper's namespace */
    int upstream; /* UDP, in the host's network namespace */
    struct dns_network networks[DNS_MAX_NETWORKS];
    struct dns_record records[DNS_MAX_RECORDS];
    struct dns_pending pending[DNS_MAX_PENDING];
    struct dns_tcp tcp[DNS_MAX_TCP];
    unsigned tcp_generation;
    /* The host's resolv.conf servers, read again when the file changes (looked at once a second). */
    struct in_addr host_servers[DNS_MAX_UPSTREAMS];
    int host_server_count;
    long long host_checked;
    struct timespec host_mtime;
    ino_t host_inode;
    uint32_t random;
} dns; /* zeroed (bss: the tables' pages cost only once used); dns_init sets the descriptors */

static long long now_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec;
}

static uint16_t next_id(void) {
    /* xorshift32, seeded from getrandom: ids upstream are not the clients' (they could collide). */
    uint32_t x = dns.random;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    dns.random = x;
    return (uint16_t)(x >> 8);
}

int dns_init(void) {
    dns.epoll = dns.upstream = dns.ioctl_fd = -1;
    for (int i = 0; i < DNS_MAX_NETWORKS; i++) dns.networks[i].fd = dns.networks[i].tcp = -1;
    for (int i = 0; i < DNS_MAX_TCP; i++) dns.tcp[i].fd = -1;
    if (getrandom(&dns.random, sizeof dns.random, 0) != sizeof dns.random || dns.random == 0) {
        dns.random = (uint32_t)time(NULL) | 1u;
    }
    dns.upstream = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (dns.upstream < 0) return -errno;
    dns.epoll = epoll_create1(EPOLL_CLOEXEC);
    if (dns.epoll < 0) return -errno;
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = UPSTREAM_SLOT};
    if (epoll_ctl(dns.epoll, EPOLL_CTL_ADD, dns.upstream, &event) != 0) return -errno;
    return 0;
}

int dns_poll_fd(void) { return dns.upstream < 0 ? -1 : dns.epoll; }

/* A name as DNS compares it: ASCII lowercase; 0, or -1 when it is not a host name of at most
 * 253 characters (letters, digits, `-`, `_`, `.`; labels of 1..63; the first a letter or digit). */
static int normalize_name(const char *text, size_t length, char out[254]) {
    if (length == 0 || length > 253 || !isalnum((unsigned char)text[0])) return -1;
    size_t label = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '.') {
            if (label == 0) return -1;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63) return -1;
        } else {
            return -1;
        }
        out[i] = (char)tolower(c);
    }
    if (label == 0) return -1;
    out[length] = 0;
    return 0;
}

/* `ALIAS=NAME,...` into endpoint->links; 0 or -1. */
static int parse_links(char *text, struct dns_endpoint *endpoint) {
    size_t used = 0;
    for (char *start = text; *start;) {
        char *end = strchrnul(start, ',');
        char *equals = memchr(start, '=', (size_t)(end - start));
        char alias[254], name[254];
        if (equals == NULL || endpoint->link_count == DNS_MAX_LINKS ||
            normalize_name(start, (size_t)(equals - start), alias) != 0 ||
            normalize_name(equals + 1, (size_t)(end - equals - 1), name) != 0) return -1;
        size_t alias_length = strlen(alias) + 1, name_length = strlen(name) + 1;
        if (used + alias_length + name_length > sizeof endpoint->links) return -1;
        memcpy(endpoint->links + used, alias, alias_length);
        memcpy(endpoint->links + used + alias_length, name, name_length);
        used += alias_length + name_length;
        endpoint->link_count++;
        start = *end ? end + 1 : end;
    }
    return 0;
}

/* The name a link of the asking container's gives ALIAS, or NULL. */
static const char *link_target(const struct dns_endpoint *endpoint, const char *alias) {
    const char *at = endpoint->links;
    for (int i = 0; i < endpoint->link_count; i++) {
        const char *name = at + strlen(at) + 1;
        if (strcmp(at, alias) == 0) return name;
        at = name + strlen(name) + 1;
    }
    return NULL;
}

int dns_endpoint_parse(const char *text, struct dns_endpoint *endpoint) {
    memset(endpoint, 0, sizeof *endpoint);
    char names[2048] = "", upstreams[256] = "", links[1024] = "", extra[2];
    int fields = sscanf(text, " %2047s %255s %1023s %1s", names, upstreams, links, extra);
    if (fields == EOF || fields == 0) return 0; /* the older form */
    if (fields != 2 && fields != 3) return -1;
    if (fields == 3 && strcmp(links, "-") != 0 && parse_links(links, endpoint) != 0) return -1;
    if (strcmp(names, "-") != 0) {
        size_t used = 0;
        for (char *start = names; *start;) {
            char *end = strchrnul(start, ',');
            char name[254];
            size_t length = (size_t)(end - start);
            if (endpoint->name_count == DNS_MAX_NAMES || normalize_name(start, length, name) != 0 ||
                used + length + 1 > sizeof endpoint->names) return -1;
            memcpy(endpoint->names + used, name, length + 1);
            used += length + 1;
            endpoint->name_count++;
            start = *end ? end + 1 : end;
        }
    }
    if (strcmp(upstreams, "-") != 0) {
        for (char *start = upstreams; *start;) {
            char *end = strchrnul(start, ',');
            char address[32];
            size_t length = (size_t)(end - start);
            if (endpoint->upstream_count == DNS_MAX_UPSTREAMS || length == 0 || length >= sizeof address) return -1;
            memcpy(address, start, length);
            address[length] = 0;
            if (inet_pton(AF_INET, address, &endpoint->upstreams[endpoint->upstream_count]) != 1) return -1;
            endpoint->upstream_count++;
            start = *end ? end + 1 : end;
        }
    }
    return 0;
}

int dns_peer_link(int netlink, int index, int *peer) {
    struct {
        struct nlmsghdr header;
        struct ifinfomsg info;
    } request = {
        .header = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK,
                   .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 0x444e53},
        .info = {.ifi_family = AF_UNSPEC, .ifi_index = index},
    };
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(netlink, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -errno;
    static char reply[8192];
    for (;;) {
        ssize_t n = recv(netlink, reply, sizeof reply, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != request.header.nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                return error != 0 ? error : -ENOENT;
            }
            if (h->nlmsg_type != RTM_NEWLINK) continue;
            struct ifinfomsg *link = NLMSG_DATA(h);
            int length = (int)IFLA_PAYLOAD(h);
            for (struct rtattr *a = IFLA_RTA(link); RTA_OK(a, length); a = RTA_NEXT(a, length)) {
                if (a->rta_type == IFLA_LINK && RTA_PAYLOAD(a) >= sizeof(int)) {
                    memcpy(peer, RTA_DATA(a), sizeof(int));
                    return 0;
                }
            }
            return -ENOENT;
        }
    }
}

static void close_tcp(int index) {
    struct dns_tcp *connection = &dns.tcp[index];
    (void)epoll_ctl(dns.epoll, EPOLL_CTL_DEL, connection->fd, NULL);
    (void)close(connection->fd);
    connection->fd = -1;
}

/* A socket of `type` on port 53 of the gateway, bound to the bridge; -errno. */
static int open_socket(int type, const char *bridge, struct in_addr gateway, uint32_t tag) {
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr = gateway};
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = tag};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bridge, (socklen_t)strlen(bridge)) != 0 ||
        bind(fd, (struct sockaddr *)&local, sizeof local) != 0 ||
        (type == SOCK_STREAM && listen(fd, 16) != 0) ||
        epoll_ctl(dns.epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
        int error = errno;
        (void)close(fd);
        return -error;
    }
    return fd;
}

static void close_network(int slot) {
    struct dns_network *network = &dns.networks[slot];
    if (network->fd >= 0) {
        (void)epoll_ctl(dns.epoll, EPOLL_CTL_DEL, network->fd, NULL);
        (void)close(network->fd);
    }
    if (network->tcp >= 0) {
        (void)epoll_ctl(dns.epoll, EPOLL_CTL_DEL, network->tcp, NULL);
        (void)close(network->tcp);
    }
    for (int i = 0; i < DNS_MAX_TCP; i++) {
        if (dns.tcp[i].fd >= 0 && dns.tcp[i].network == slot) close_tcp(i);
    }
    for (int i = 0; i < DNS_MAX_RECORDS; i++) {
        if (dns.records[i].used && dns.records[i].network == slot) dns.records[i].used = 0;
    }
    memset(network, 0, sizeof *network);
    network->fd = network->tcp = -1;
}

/* The bridge's responder, opened when missing (or when its bridge was made again). */
static int open_network(const char *bridge, struct in_addr gateway) {
    int index = (int)if_nametoindex(bridge);
    if (index == 0) return -errno;
    int free_slot = -1;
    for (int i = 0; i < DNS_MAX_NETWORKS; i++) {
        struct dns_network *network = &dns.networks[i];
        if (!network->used) {
            if (free_slot < 0) free_slot = i;
            continue;
        }
        if (strcmp(network->bridge, bridge) != 0) continue;
        if (network->bridge_index == index && network->gateway.s_addr == gateway.s_addr) return i;
        close_network(i);
        if (free_slot < 0 || free_slot > i) free_slot = i;
    }
    if (free_slot < 0) return -ENOSPC;
    int fd = open_socket(SOCK_DGRAM, bridge, gateway, (uint32_t)free_slot);
    if (fd < 0) return fd;
    int tcp = open_socket(SOCK_STREAM, bridge, gateway, TCP_LISTENER | (uint32_t)free_slot);
    if (tcp < 0) {
        (void)epoll_ctl(dns.epoll, EPOLL_CTL_DEL, fd, NULL);
        (void)close(fd);
        return tcp;
    }
    struct dns_network *network = &dns.networks[free_slot];
    network->used = 1;
    (void)snprintf(network->bridge, sizeof network->bridge, "%s", bridge);
    network->bridge_index = index;
    network->gateway = gateway;
    network->fd = fd;
    network->tcp = tcp;
    return free_slot;
}

/* The name of the keeper's interface `index` (one ioctl on a socket of the keeper's namespace,
 * made at the first attach); 0 or -1. */
static int interface_name(int index, char name[IFNAMSIZ]) {
    if (dns.ioctl_fd < 0) dns.ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq request = {.ifr_ifindex = index};
    if (dns.ioctl_fd < 0 || ioctl(dns.ioctl_fd, SIOCGIFNAME, &request) != 0) return -1;
    memcpy(name, request.ifr_name, IFNAMSIZ);
    name[IFNAMSIZ - 1] = 0;
    return 0;
}

/* Whether the record's veth is still there (the container's namespace went with it when not). */
static int record_alive(const struct dns_record *record) {
    char name[IFNAMSIZ];
    return interface_name(record->veth, name) == 0 && strcmp(name, record->veth_name) == 0;
}

int dns_add(const char *bridge, struct in_addr gateway, struct in_addr address, const struct dns_endpoint *endpoint) {
    if (dns.epoll < 0) return -EBADF;
    int slot = open_network(bridge, gateway);
    if (slot < 0) return slot;
    char veth_name[IFNAMSIZ];
    if (endpoint->veth <= 0 || interface_name(endpoint->veth, veth_name) != 0) return -ENODEV;
    int free_record = -1;
    for (int pass = 0; pass < 2 && free_record < 0; pass++) {
        if (pass == 1) dns_sweep(); /* full: the records of containers gone make room */
        for (int i = 0; i < DNS_MAX_RECORDS; i++) {
            struct dns_record *record = &dns.records[i];
            /* An address of the network is one container's: a record left by one gone is replaced. */
            if (record->used && record->network == slot && record->address.s_addr == address.s_addr) record->used = 0;
            if (!record->used && free_record < 0) free_record = i;
        }
    }
    if (free_record < 0) return -ENOSPC;
    struct dns_record *record = &dns.records[free_record];
    record->used = 1;
    record->network = slot;
    record->veth = endpoint->veth;
    memcpy(record->veth_name, veth_name, sizeof veth_name);
    record->address = address;
    record->endpoint = *endpoint;
    return 0;
}

void dns_sweep(void) {
    for (int i = 0; i < DNS_MAX_NETWORKS; i++) {
        struct dns_network *network = &dns.networks[i];
        if (network->used && (int)if_nametoindex(network->bridge) != network->bridge_index) close_network(i);
    }
    for (int i = 0; i < DNS_MAX_RECORDS; i++) {
        if (dns.records[i].used && !record_alive(&dns.records[i])) dns.records[i].used = 0;
    }
    long long now = now_seconds();
    for (int i = 0; i < DNS_MAX_PENDING; i++) {
        if (dns.pending[i].used && dns.pending[i].deadline < now) dns.pending[i].used = 0;
    }
    for (int i = 0; i < DNS_MAX_TCP; i++) {
        if (dns.tcp[i].fd >= 0 && dns.tcp[i].deadline < now) close_tcp(i);
    }
}

/* The host's servers (IPv4 `nameserver` lines of /etc/resolv.conf), read again when it changed. */
static void refresh_host_servers(void) {
    long long now = now_seconds();
    if (dns.host_checked != 0 && now == dns.host_checked) return;
    dns.host_checked = now;
    struct stat file;
    if (stat("/etc/resolv.conf", &file) != 0) {
        dns.host_server_count = 0;
        return;
    }
    if (file.st_ino == dns.host_inode && file.st_mtim.tv_sec == dns.host_mtime.tv_sec &&
        file.st_mtim.tv_nsec == dns.host_mtime.tv_nsec) return;
    FILE *resolv = fopen("/etc/resolv.conf", "re");
    if (resolv == NULL) return;
    dns.host_inode = file.st_ino;
    dns.host_mtime = file.st_mtim;
    dns.host_server_count = 0;
    char line[512], address[64];
    while (fgets(line, sizeof line, resolv) != NULL) {
        if (dns.host_server_count < DNS_MAX_UPSTREAMS && sscanf(line, " nameserver %63s", address) == 1 &&
            inet_pton(AF_INET, address, &dns.host_servers[dns.host_server_count]) == 1) {
            dns.host_server_count++;
        }
    }
    (void)fclose(resolv);
}

/* The question of a query: its name (lowercase, dotted, no trailing dot; "" for the root), type,
 * class and the offset past it; -1 when the packet is not one query. */
static int parse_question(const unsigned char *packet, size_t length, char name[256], uint16_t *type, uint16_t *class_) {
    if (length < 12) return -1;
    if (packet[2] & 0x80) return -1;               /* an answer, not a query */
    if (((packet[2] >> 3) & 0x0f) != 0) return -1; /* not a standard query */
    if (packet[4] != 0 || packet[5] != 1) return -1;
    size_t at = 12, out = 0;
    for (;;) {
        if (at >= length) return -1;
        unsigned label = packet[at++];
        if (label == 0) break;
        if (label > 63 || at + label > length || out + label + 1 > 254) return -1; /* pointers too */
        if (out > 0) name[out++] = '.';
        for (unsigned i = 0; i < label; i++) {
            unsigned char c = packet[at + i];
            if (c == 0 || c == '.') return -1;
            name[out++] = (char)tolower(c);
        }
        at += label;
    }
    name[out] = 0;
    if (at + 4 > length) return -1;
    *type = (uint16_t)(packet[at] << 8 | packet[at + 1]);
    *class_ = (uint16_t)(packet[at + 2] << 8 | packet[at + 3]);
    return (int)(at + 4);
}

static int has_name(const struct dns_record *record, const char *name) {
    const char *candidate = record->endpoint.names;
    for (int i = 0; i < record->endpoint.name_count; i++) {
        if (strcmp(candidate, name) == 0) return 1;
        candidate += strlen(candidate) + 1;
    }
    return 0;
}

/* The address of a reverse name `d.c.b.a.in-addr.arpa`; 0 when it is not one. */
static int reverse_address(const char *name, struct in_addr *address) {
    unsigned a, b, c, d;
    char tail[32];
    if (sscanf(name, "%3u.%3u.%3u.%3u.%31s", &d, &c, &b, &a, tail) != 5 || strcmp(tail, "in-addr.arpa") != 0 ||
        a > 255 || b > 255 || c > 255 || d > 255) return 0;
    address->s_addr = htonl(a << 24 | b << 16 | c << 8 | d);
    return 1;
}

static size_t put16(unsigned char *at, unsigned value) {
    at[0] = (unsigned char)(value >> 8);
    at[1] = (unsigned char)value;
    return 2;
}

/* One answer record for the question's name (a pointer to offset 12), class IN, DNS_TTL:
 * TYPE and LENGTH bytes of DATA (an A's 4, an AAAA's 16); its size. */
static size_t put_address_record(unsigned char *at, unsigned type, const void *data, unsigned length) {
    size_t n = put16(at, 0xc00c);
    n += put16(at + n, type);
    n += put16(at + n, 1);
    n += put16(at + n, 0);
    n += put16(at + n, DNS_TTL);
    n += put16(at + n, length);
    memcpy(at + n, data, length);
    return n + length;
}

/* The header of an answer to `query` (its id, RD; authoritative, recursion available). */
static void answer_header(unsigned char *answer, const unsigned char *query, unsigned rcode, unsigned count) {
    answer[0] = query[0];
    answer[1] = query[1];
    answer[2] = (unsigned char)(0x80 | 0x04 | (query[2] & 0x01));
    answer[3] = (unsigned char)(0x80 | rcode);
    put16(answer + 4, 1);
    put16(answer + 6, count);
    put16(answer + 8, 0);
    put16(answer + 10, 0);
}

static void send_to(int fd, const void *bytes, size_t length, const struct sockaddr_in *to) {
    (void)sendto(fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to, sizeof *to);
}

/* An answer to its client: a datagram, or on its TCP connection with the length first (an answer
 * that does not fit the socket's buffer at once ends the connection). */
static void reply_to(const struct dns_client *client, const unsigned char *bytes, size_t length) {
    if (client->tcp == 0) {
        struct dns_network *network = &dns.networks[client->network];
        if (network->used && network->fd >= 0) send_to(network->fd, bytes, length, &client->address);
        return;
    }
    int index = client->tcp - 1;
    struct dns_tcp *connection = &dns.tcp[index];
    if (connection->fd < 0 || connection->generation != client->generation) return;
    unsigned char framed[2 + DNS_PACKET];
    if (length > DNS_PACKET) return;
    put16(framed, (unsigned)length);
    memcpy(framed + 2, bytes, length);
    if (send(connection->fd, framed, length + 2, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(length + 2)) close_tcp(index);
}

/* Sends the query on to the upstream servers (all at once; the first answer wins). */
static void forward(const unsigned char *query, size_t length, size_t question_end, const struct dns_client *client,
                    const struct dns_record *asker) {
    struct in_addr servers[DNS_MAX_UPSTREAMS];
    int count = 0;
    if (asker != NULL && asker->endpoint.upstream_count > 0) {
        count = asker->endpoint.upstream_count;
        memcpy(servers, asker->endpoint.upstreams, sizeof servers);
    } else {
        refresh_host_servers();
        count = dns.host_server_count;
        memcpy(servers, dns.host_servers, sizeof servers);
    }
    long long now = now_seconds();
    int free_slot = -1, oldest = 0;
    for (int i = 0; i < DNS_MAX_PENDING; i++) {
        if (dns.pending[i].used && dns.pending[i].deadline < now) dns.pending[i].used = 0;
        if (!dns.pending[i].used && free_slot < 0) free_slot = i;
        if (dns.pending[i].deadline < dns.pending[oldest].deadline) oldest = i;
    }
    if (count == 0 || dns.upstream < 0) {
        unsigned char answer[DNS_PACKET];
        memcpy(answer, query, question_end);
        answer_header(answer, query, 2 /* SERVFAIL */, 0);
        answer[2] &= (unsigned char)~0x04;
        reply_to(client, answer, question_end);
        return;
    }
    if (free_slot < 0) free_slot = oldest; /* full: the oldest query waiting is given up */
    struct dns_pending *pending = &dns.pending[free_slot];
    uint16_t id;
    int clash;
    do {
        id = next_id();
        clash = 0;
        for (int i = 0; i < DNS_MAX_PENDING; i++) clash |= dns.pending[i].used && dns.pending[i].id == id;
    } while (clash);
    *pending = (struct dns_pending){.used = 1, .id = id, .client_id = (uint16_t)(query[0] << 8 | query[1]),
                                    .client = *client, .server_count = count,
                                    .deadline = now + DNS_FORWARD_SECONDS};
    memcpy(pending->servers, servers, sizeof servers);
    unsigned char copy[DNS_PACKET];
    memcpy(copy, query, length);
    put16(copy, id);
    for (int i = 0; i < count; i++) {
        struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr = servers[i]};
        send_to(dns.upstream, copy, length, &server);
    }
}

static void answer_query(unsigned char *query, size_t length, const struct dns_client *client) {
    int slot = client->network;
    char name[256];
    uint16_t type = 0, class_ = 0;
    int end = parse_question(query, length, name, &type, &class_);
    if (end < 0) return;
    /* A link alias of the asking container names its target, for it alone (moby's). */
    for (int i = 0; i < DNS_MAX_RECORDS; i++) {
        struct dns_record *record = &dns.records[i];
        if (!record->used || record->network != slot || record->endpoint.link_count == 0 ||
            record->address.s_addr != client->address.sin_addr.s_addr) continue;
        const char *target = link_target(&record->endpoint, name);
        if (target != NULL && record_alive(record)) snprintf(name, sizeof name, "%s", target);
        break;
    }
    const struct dns_record *asker = NULL;
    const struct dns_record *found[32];
    int found_count = 0, known = 0;
    struct in_addr reverse;
    int is_reverse = reverse_address(name, &reverse);
    const struct dns_record *reverse_found = NULL;
    for (int i = 0; i < DNS_MAX_RECORDS; i++) {
        struct dns_record *record = &dns.records[i];
        if (!record->used || record->network != slot) continue;
        int matches = has_name(record, name);
        int is_asker = record->address.s_addr == client->address.sin_addr.s_addr;
        int reversed = is_reverse && record->address.s_addr == reverse.s_addr;
        if (!matches && !is_asker && !reversed) continue;
        if (!record_alive(record)) {
            record->used = 0;
            continue;
        }
        if (is_asker) asker = record;
        if (reversed && record->endpoint.name_count > 0) reverse_found = record;
        if (matches) {
            known = 1;
            if (found_count < 32) found[found_count++] = record;
        }
    }
    if (class_ != 1 /* IN */ || (!known && reverse_found == NULL)) {
        forward(query, length, (size_t)end, client, asker);
        return;
    }
    unsigned char answer[DNS_PACKET];
    memcpy(answer, query, (size_t)end); /* the header and the question */
    size_t at = (size_t)end;
    unsigned count = 0;
    if (reverse_found != NULL) {
        if (type == 12 /* PTR */ || type == 255) {
            const char *target = reverse_found->endpoint.names; /* the first: the container's name */
            at += put16(answer + at, 0xc00c);
            at += put16(answer + at, 12);
            at += put16(answer + at, 1);
            at += put16(answer + at, 0);
            at += put16(answer + at, DNS_TTL);
            size_t rdlength_at = at;
            at += 2;
            size_t start = at;
            for (const char *label = target; *label;) {
                const char *dot = strchrnul(label, '.');
                answer[at++] = (unsigned char)(dot - label);
                memcpy(answer + at, label, (size_t)(dot - label));
                at += (size_t)(dot - label);
                label = *dot ? dot + 1 : dot;
            }
            answer[at++] = 0;
            put16(answer + rdlength_at, (unsigned)(at - start));
            count = 1;
        }
    } else if (type == 28 /* AAAA */) {
        for (int i = 0; i < found_count && at + 28 <= sizeof answer; i++) {
            if (!found[i]->endpoint.has_address6) continue;
            at += put_address_record(answer + at, 28, &found[i]->endpoint.address6, 16);
            count++;
        }
    } else if (type == 1 /* A */ || type == 255) {
        for (int i = 0; i < found_count && at + 16 <= sizeof answer; i++) {
            at += put_address_record(answer + at, 1, &found[i]->address, 4);
            count++;
        }
    }
    answer_header(answer, query, 0, count);
    reply_to(client, answer, at);
}

static void answer_upstream(void) {
    unsigned char packet[DNS_PACKET];
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_length = sizeof from;
        ssize_t n = recvfrom(dns.upstream, packet, sizeof packet, MSG_DONTWAIT, (struct sockaddr *)&from, &from_length);
        if (n < 0) return;
        if (n < 12 || from.sin_family != AF_INET || from.sin_port != htons(53) || !(packet[2] & 0x80)) continue;
        uint16_t id = (uint16_t)(packet[0] << 8 | packet[1]);
        for (int i = 0; i < DNS_MAX_PENDING; i++) {
            struct dns_pending *pending = &dns.pending[i];
            if (!pending->used || pending->id != id) continue;
            int from_server = 0;
            for (int s = 0; s < pending->server_count; s++) from_server |= pending->servers[s].s_addr == from.sin_addr.s_addr;
            if (!from_server) break;
            pending->used = 0;
            put16(packet, pending->client_id);
            reply_to(&pending->client, packet, (size_t)n);
            break;
        }
    }
}

static void answer_network(int slot) {
    unsigned char packet[DNS_PACKET];
    for (int budget = 0; budget < 64; budget++) {
        struct dns_network *network = &dns.networks[slot];
        if (!network->used || network->fd < 0) return;
        struct sockaddr_in client;
        socklen_t client_length = sizeof client;
        ssize_t n = recvfrom(network->fd, packet, sizeof packet, MSG_DONTWAIT, (struct sockaddr *)&client, &client_length);
        if (n < 0) return;
        if (client.sin_family != AF_INET || n > 512 + 1024) continue;
        struct dns_client to = {.network = slot, .address = client};
        answer_query(packet, (size_t)n, &to);
    }
}

static void accept_tcp(int slot) {
    struct dns_network *network = &dns.networks[slot];
    if (!network->used || network->tcp < 0) return;
    struct sockaddr_in client;
    socklen_t client_length = sizeof client;
    int fd = accept4(network->tcp, (struct sockaddr *)&client, &client_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int index = -1;
    for (int i = 0; i < DNS_MAX_TCP && index < 0; i++) {
        if (dns.tcp[i].fd < 0) index = i;
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = TCP_CONNECTION | (uint32_t)index};
    if (index < 0 || client.sin_family != AF_INET || epoll_ctl(dns.epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
        (void)close(fd); /* full: the client retries */
        return;
    }
    struct dns_tcp *connection = &dns.tcp[index];
    connection->fd = fd;
    connection->generation = ++dns.tcp_generation;
    connection->network = slot;
    connection->address = client.sin_addr;
    connection->deadline = now_seconds() + DNS_TCP_SECONDS;
    connection->have = 0;
}

/* A TCP connection's bytes: each query (its length first) answered as it is complete; one that
 * does not parse, or is longer than a query can be, ends the connection. */
static void read_tcp(int index) {
    struct dns_tcp *connection = &dns.tcp[index];
    if (connection->fd < 0) return;
    ssize_t n = recv(connection->fd, connection->buffer + connection->have, sizeof connection->buffer - connection->have,
                     MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_tcp(index);
        return;
    }
    if (n < 0) return;
    connection->have += (size_t)n;
    while (connection->fd >= 0 && connection->have >= 2) {
        size_t length = (size_t)(connection->buffer[0] << 8 | connection->buffer[1]);
        if (length < 12 || length > sizeof connection->buffer - 2) {
            close_tcp(index);
            return;
        }
        if (connection->have < 2 + length) return;
        unsigned char query[sizeof connection->buffer];
        memcpy(query, connection->buffer + 2, length);
        connection->have -= 2 + length;
        memmove(connection->buffer, connection->buffer + 2 + length, connection->have);
        struct dns_client to = {.network = connection->network, .tcp = index + 1, .generation = connection->generation};
        to.address = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr = connection->address};
        char name[256];
        uint16_t type, class_;
        if (parse_question(query, length, name, &type, &class_) < 0) {
            close_tcp(index);
            return;
        }
        answer_query(query, length, &to);
    }
}

void dns_serve(void) {
    struct epoll_event events[16];
    int n = epoll_wait(dns.epoll, events, 16, 0);
    for (int i = 0; i < n; i++) {
        uint32_t tag = events[i].data.u32;
        if (tag == UPSTREAM_SLOT) answer_upstream();
        else if (tag < DNS_MAX_NETWORKS) answer_network((int)tag);
        else if ((tag & ~0xffffu) == TCP_LISTENER && (tag & 0xffffu) < DNS_MAX_NETWORKS) accept_tcp((int)(tag & 0xffffu));
        else if ((tag & ~0xffffu) == TCP_CONNECTION && (tag & 0xffffu) < DNS_MAX_TCP) read_tcp((int)(tag & 0xffffu));
    }
}

/*
 * skiff-relay --keep-netns SOCKET-PATH IDLE-SECONDS USERNS-FD|-: the network namespace keeper,
 * one per user (docs/networking.md, "Containers on user-defined networks").
 *
 * A container on a user-defined network has a veth pair: one end, ethN, in its own network
 * namespace, the other on a Linux bridge (one per network, `br-<id12>`, with the gateway's
 * address) inside a network namespace of the user's, which this process makes and holds, as
 * Podman's rootless-netns. skiff-monitor starts it (fd 3: the listening SOCK_SEQPACKET socket at
 * SOCKET-PATH; with USERNS-FD, rootless, the user namespace the containers are in, which it
 * joins first so that the namespace it makes is owned by it: moving a veth into a container's
 * namespace takes CAP_NET_ADMIN over both namespaces' owners).
 *
 * Each connection first gets this process's pid (4 bytes) with a descriptor of its user
 * namespace (SCM_RIGHTS): the container joins that one. Then one request per message, with a
 * container's network namespace attached, each answered by `ok` or `error STEP: REASON`:
 *
 *   attach BRIDGE GATEWAY PREFIX MTU IFNAME ADDRESS MAC 0|1 [0|1 [NAMES UPSTREAMS [LINKS] [ADDRESS6/PREFIX6 GATEWAY6]]]
 *          (1: default route by GATEWAY; then 1: an Internal network; NAMES, UPSTREAMS: the
 *          container's names on the network and its DNS servers, comma-separated or `-`, for the
 *          DNS responder of netns_dns.c; LINKS: its link aliases, `ALIAS=NAME` comma-separated or `-`;
 *          on an IPv6 network its IPv6 address and the network's IPv6 gateway, netns_ipv6.c)
 *   publish tcp|udp HOSTIP HOSTPORT ADDRESS PORT   (the container's pidfd attached; netns_uplink.c)
 *   detach IFNAME
 *
 * A container's end goes with its network namespace (the kernel removes both ends), so nothing
 * has to be torn down when a container exits or its monitor is killed. Without an uplink the
 * namespace does not forward IPv4 (ip_forward 0); with one (UPLINK-ARGV, netns_uplink.c) it does,
 * and nftables refuses forwarding between bridges: one network's containers do not reach another's. A bridge with no port
 * left is removed; the keeper ends after IDLE-SECONDS with no connection and no container
 * attached, taking the namespace and its bridges with it (the path goes first).
 */
#define _GNU_SOURCE
#include "relay.h"
#include "fdpass.h"
#include "netns_dns.h"
#include "netns_ipv6.h"
#include "netns_uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 64

static int reply(int connection, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int reply(int connection, const char *format, ...) {
    char text[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (n < 0) return -1;
    if ((size_t)n >= sizeof text) n = (int)sizeof text - 1;
    return send(connection, text, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
    unsigned v[6];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255) return -1;
        mac[i] = (unsigned char)v[i];
    }
    return 0;
}

struct keeper_state {
    int netlink;     /* in the keeper's namespace */
    int own_netns;   /* the keeper's namespace, to come back to */
};

/* The container's side: address, up, default route; in its namespace, then back. */
static int configure_peer(struct keeper_state *state, int connection, int netns, const char *ifname,
                          struct in_addr address, unsigned prefix, struct in_addr gateway, int route,
                          const char *bridge, struct dns_endpoint *names, const struct ipv6_endpoint *ipv6) {
    if (setns(netns, CLONE_NEWNET) != 0) return reply(connection, "error setns container: %s", strerror(errno));
    int rc = 0;
    const char *step = "";
    int nl = nl_open();
    int index = nl < 0 ? 0 : (int)if_nametoindex(ifname);
    if (nl < 0) {
        rc = nl;
        step = "netlink container";
    } else if (index == 0) {
        rc = -errno;
        step = "find the container's interface";
    } else if ((rc = nl_address_add(nl, index, address, prefix)) != 0) {
        step = "address";
    } else if ((rc = nl_link_up(nl, index)) != 0) {
        step = "up";
    } else if (route && (rc = nl_default_route(nl, index, gateway)) != 0) {
        step = "default route";
    } else if (ipv6->present && (rc = nl_address6_add(nl, index, &ipv6->address, ipv6->prefix)) != 0) {
        step = "IPv6 address";
    } else if (ipv6->present && route && (rc = nl_default_route6(nl, index, &ipv6->gateway)) != 0) {
        step = "IPv6 default route";
    } else if ((rc = dns_peer_link(nl, index, &names->veth)) != 0) {
        step = "find the keeper's end of";
    }
    if (rc != 0 && index > 0) (void)nl_link_delete(nl, index);
    if (nl >= 0) close(nl);
    if (setns(state->own_netns, CLONE_NEWNET) != 0) {
        (void)reply(connection, "error setns back: %s", strerror(errno));
        _exit(1);
    }
    if (rc != 0) return reply(connection, "error %s %s: %s", step, ifname, strerror(-rc));
    if ((rc = dns_add(bridge, gateway, address, names)) != 0) {
        (void)nl_link_delete(state->netlink, names->veth);
        return reply(connection, "error dns %s: %s", bridge, strerror(-rc));
    }
    return reply(connection, "ok");
}

static int attach(struct keeper_state *state, int connection, int netns, char *arguments) {
    char bridge[IFNAMSIZ + 1], gateway_text[32], ifname[IFNAMSIZ + 1], address_text[32], mac_text[32];
    unsigned prefix = 0, mtu = 0;
    int route = 0, internal = 0, consumed = 0, more = 0;
    struct dns_endpoint names;
    struct ipv6_endpoint ipv6;
    /* After ROUTE: nothing; INTERNAL (0|1); or INTERNAL NAMES UPSTREAMS. */
    if (sscanf(arguments, "%15s %31s %u %u %15s %31s %31s %d%n", bridge, gateway_text, &prefix, &mtu, ifname,
               address_text, mac_text, &route, &consumed) != 8 || prefix > 32) {
        return reply(connection, "error request: not BRIDGE GATEWAY PREFIX MTU IFNAME ADDRESS MAC ROUTE [INTERNAL [NAMES UPSTREAMS]]");
    }
    const char *rest = arguments + consumed;
    while (*rest == ' ') rest++;
    if (*rest != '\0') {
        if ((rest[0] != '0' && rest[0] != '1') || (rest[1] != '\0' && rest[1] != ' ')) {
            return reply(connection, "error request: not BRIDGE GATEWAY PREFIX MTU IFNAME ADDRESS MAC ROUTE [INTERNAL [NAMES UPSTREAMS]]");
        }
        internal = rest[0] == '1';
        more = 1;
    }
    if (ipv6_endpoint_take((char *)(more ? rest + 1 : rest), &ipv6) != 0 || dns_endpoint_parse(more ? rest + 1 : rest, &names) != 0) {
        return reply(connection, "error request: not BRIDGE GATEWAY PREFIX MTU IFNAME ADDRESS MAC ROUTE [INTERNAL [NAMES UPSTREAMS]]");
    }
    names.has_address6 = ipv6.present;
    names.address6 = ipv6.address;
    struct in_addr gateway, address;
    unsigned char mac[6];
    if (inet_pton(AF_INET, gateway_text, &gateway) != 1 || inet_pton(AF_INET, address_text, &address) != 1 ||
        parse_mac(mac_text, mac) != 0) {
        return reply(connection, "error request: bad address");
    }
    int master = (int)if_nametoindex(bridge);
    if (master == 0) {
        int rc = nl_bridge_add(state->netlink, bridge, mtu);
        if (rc != 0 && rc != -EEXIST) return reply(connection, "error bridge %s: %s", bridge, strerror(-rc));
        master = (int)if_nametoindex(bridge);
        if (master == 0) return reply(connection, "error bridge %s: %s", bridge, strerror(errno));
        rc = nl_address_add(state->netlink, master, gateway, prefix);
        if (rc != 0 && rc != -EEXIST) {
            (void)nl_link_delete(state->netlink, master);
            return reply(connection, "error bridge %s: address %s/%u: %s", bridge, gateway_text, prefix, strerror(-rc));
        }
        char error[512];
        if (uplink_bridge_added(bridge, internal, error, sizeof error) != 0) {
            (void)nl_link_delete(state->netlink, master);
            return reply(connection, "error bridge %s: uplink: %s", bridge, error);
        }
    }
    if (ipv6.present) {
        int rc6 = nl_address6_add(state->netlink, master, &ipv6.gateway, ipv6.prefix);
        if (rc6 != 0) return reply(connection, "error bridge %s: IPv6 address: %s", bridge, strerror(-rc6));
    }
    int rc = nl_veth_add(state->netlink, master, mtu, ifname, mac, netns);
    if (rc != 0) return reply(connection, "error veth %s: %s", ifname, strerror(-rc));
    return configure_peer(state, connection, netns, ifname, address, prefix, gateway, route, bridge, &names, &ipv6);
}

static int detach(struct keeper_state *state, int connection, int netns, const char *ifname) {
    if (setns(netns, CLONE_NEWNET) != 0) return reply(connection, "error setns container: %s", strerror(errno));
    int rc = 0;
    int nl = nl_open();
    int index = (int)if_nametoindex(ifname);
    if (nl < 0) {
        rc = nl;
    } else if (index == 0) {
        rc = -ENODEV;
    } else {
        rc = nl_link_delete(nl, index);
    }
    if (nl >= 0) close(nl);
    if (setns(state->own_netns, CLONE_NEWNET) != 0) _exit(1);
    if (rc != 0) return reply(connection, "error detach %s: %s", ifname, strerror(-rc));
    return reply(connection, "ok");
}

static void serve(struct keeper_state *state, int connection) {
    char request[2048];
    int netns = -1;
    ssize_t n = skiff_fd_recv(connection, request, sizeof request - 1, &netns);
    if (n <= 0) return;
    request[n] = 0;
    if (netns < 0) {
        (void)reply(connection, "error request: no network namespace attached");
    } else if (strncmp(request, "attach ", 7) == 0) {
        (void)attach(state, connection, netns, request + 7);
    } else if (strncmp(request, "detach ", 7) == 0) {
        char ifname[IFNAMSIZ + 1];
        if (sscanf(request + 7, "%15s", ifname) != 1) (void)reply(connection, "error request: detach IFNAME");
        else (void)detach(state, connection, netns, ifname);
    } else if (strncmp(request, "publish ", 8) == 0) {
        (void)uplink_publish(connection, netns, request + 8);
    } else {
        (void)reply(connection, "error request: unknown");
    }
    if (netns >= 0) close(netns);
}

/* Links of the keeper's namespace: veths counted, bridges with no port remembered. */
struct census {
    int veths;
    int bridges[64];
    int bridge_count;
    int masters[256];
    int master_count;
};

static void count_link(void *context, int index, const char *name, const char *kind, int master) {
    (void)name;
    struct census *census = context;
    if (strcmp(kind, "veth") == 0) census->veths++;
    if (strcmp(kind, "bridge") == 0 && census->bridge_count < 64) census->bridges[census->bridge_count++] = index;
    if (master > 0 && census->master_count < 256) census->masters[census->master_count++] = master;
}

/* Removes the bridges no container is on; returns the veths left (-1 when the dump failed). */
static int tidy(struct keeper_state *state) {
    struct census census = {0};
    if (nl_links(state->netlink, count_link, &census) != 0) return -1;
    for (int i = 0; i < census.bridge_count; i++) {
        int used = 0;
        for (int j = 0; j < census.master_count; j++) used |= census.masters[j] == census.bridges[i];
        if (!used) (void)nl_link_delete(state->netlink, census.bridges[i]);
    }
    dns_sweep();
    return census.veths;
}

int netns_keeper_main(int argc, char **argv) {
    if (argc < 5) {
        (void)fprintf(stderr, "usage: skiff-relay --keep-netns SOCKET-PATH IDLE-SECONDS USERNS-FD|- [UPLINK-ARGV...]\n");
        return 2;
    }
    const char *path = argv[2];
    long idle = strtol(argv[3], NULL, 10);
    if (idle <= 0) idle = 3;
    const int listener = 3;
    int userns = strcmp(argv[4], "-") == 0 ? -1 : (int)strtol(argv[4], NULL, 10);
    struct stat bound;
    if (fcntl(listener, F_SETFD, FD_CLOEXEC) != 0 || lstat(path, &bound) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* Nothing else stays open (but the user namespace's descriptor, 4, until it is joined). */
    if (syscall(SYS_close_range, userns == 4 ? 5 : 4, ~0U, 0) != 0) {
        for (int fd = userns == 4 ? 5 : 4; fd < 1024; fd++) (void)close(fd);
    }
    if (uplink_prepare(argc - 5, argv + 5, path) != 0) return 1;
    if (userns >= 0) {
        if (setns(userns, CLONE_NEWUSER) != 0) {
            (void)fprintf(stderr, "skiff-relay --keep-netns: join the containers' user namespace: %s\n", strerror(errno));
            return 1;
        }
        (void)close(userns);
    }
    if (dns_init() != 0) { /* its upstream socket in the host's namespace: before the unshare */
        (void)fprintf(stderr, "skiff-relay --keep-netns: the DNS responder: %s\n", strerror(errno));
        return 1;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: unshare the network namespace: %s\n", strerror(errno));
        return 1;
    }
    struct keeper_state state;
    state.netlink = nl_open();
    state.own_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int own_userns = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (state.netlink < 0 || state.own_netns < 0 || own_userns < 0 || nl_link_up(state.netlink, 1) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: set up the namespace: %s\n", strerror(errno));
        return 1;
    }
    /* Forwarding off, or the uplink with its rules and forwarding on (netns_uplink.c). */
    if (uplink_start(state.own_netns, userns >= 0 ? own_userns : -1) != 0) return 1;
    if (keeper_detach() != 0) return 1;

    struct pollfd fds[2 + MAX_CONNECTIONS + 512];
    int connections = 0;
    long long last = keeper_now(), dns_tidied = 0;
    for (;;) {
        fds[0] = (struct pollfd){listener, POLLIN, 0};
        fds[1 + connections] = (struct pollfd){dns_poll_fd(), POLLIN, 0};
        int forwards = uplink_poll_fill(fds + 2 + connections, 512);
        int ready = poll(fds, (nfds_t)(2 + connections + forwards), 1000);
        if (ready < 0 && errno != EINTR) return 1;
        if (ready > 0) uplink_poll_handle(fds + 2 + connections, forwards);
        if (ready > 0 && (fds[1 + connections].revents & POLLIN)) {
            /* DNS alone is no activity of the keeper's; its tidy below then runs once a second at most. */
            dns_serve();
            if (--ready == 0 && keeper_now() == dns_tidied) continue;
            if (ready == 0) dns_tidied = keeper_now();
        }
        if (ready > 0) {
            for (int i = connections; i >= 1; i--) {
                if (fds[i].revents & POLLIN) serve(&state, fds[i].fd);
                if (fds[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
                    (void)close(fds[i].fd);
                    fds[i] = fds[connections--];
                }
            }
            if ((fds[0].revents & POLLIN) && connections < MAX_CONNECTIONS) {
                int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (connection >= 0) {
                    int me = (int)getpid();
                    if (skiff_fd_send(connection, &me, sizeof me, own_userns) == 0) {
                        connections++;
                        fds[connections] = (struct pollfd){connection, POLLIN, 0};
                    } else {
                        (void)close(connection);
                    }
                }
            }
            last = keeper_now();
            continue;
        }
        if (connections > 0) continue;
        int veths = tidy(&state);
        if (veths != 0) {
            last = keeper_now();
            continue;
        }
        if (keeper_now() - last >= idle) {
            /* The path goes first (when it is still ours): a monitor that comes from now on makes
             * a new keeper; one already queued is refused when the listener closes, and does too. */
            struct stat now;
            if (lstat(path, &now) == 0 && now.st_ino == bound.st_ino && now.st_dev == bound.st_dev) (void)unlink(path);
            uplink_end();
            return 0;
        }
    }
}

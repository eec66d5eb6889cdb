/*
 * The network namespace keeper's uplink (docs/networking.md, "The uplink of user-defined
 * networks"), as Podman's rootless-netns has one.
 *
 * The keeper's command line carries slirp4netns's after USERNS-FD (the monitor builds it from
 * containers.conf: descriptors 3 ready, 4 exit, 5 the socket's directory (API socket
 * `.uplink`), 6 the network namespace, 7 the user namespace when rootless). Its process is forked
 * before the keeper leaves the host's user namespace, so slirp4netns's sockets are the host's; it
 * waits on a socket pair for the keeper's namespaces, then execs. It ends with the keeper: the
 * keeper holds its exit pipe, and it has a parent-death signal.
 *
 * In the keeper's namespace, one nftables table `ip skiff` (written with `nft -f -`, once at
 * start, then once per bridge and per published port; docs/decisions.md says why):
 *   forward: policy drop; replies, DNAT'd connections, frames bridged within one bridge (the set
 *            `bridged`: with br_netfilter loaded they pass this hook, from the bridge to
 *            itself), and bridges in the set `uplinked` out of tap0 are accepted: nothing goes
 *            from one bridge to another (isolation), Internal networks' bridges are never in
 *            `uplinked` (no route out);
 *   prerouting: from tap0, the map `published` (proto . guest port -> address . port) DNATs;
 *   postrouting: masquerade out of tap0.
 * A published port is slirp4netns's `add_hostfwd` (host port -> the keeper's tap0, a guest port
 * of the keeper's choosing) plus the map's element; both go when the container's process (its
 * pidfd, sent with the request) or the monitor that asked (the connection's peer) ends, whoever
 * ends it.
 */
#define _GNU_SOURCE
#include "netns_uplink.h"
#include "fdpass.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define UPLINK_MAX_FORWARDS 256
#define UPLINK_FIRST_GUEST_PORT 30000

struct forward {
    int pidfd;           /* the container's process */
    int monitor;         /* the monitor that asked (the peer of the connection), -1: unknown */
    long id;             /* slirp4netns's hostfwd id */
    char proto[4];
    unsigned guest_port; /* on the keeper's tap0 */
};

static struct {
    pid_t pid;
    int exit_write;
    int ready_read;
    int channel;
    int directory;
    struct forward forwards[UPLINK_MAX_FORWARDS];
    int count;
} uplink = {0, -1, -1, -1, -1, {{0}}, 0};

static void child_exec(int channel, int ready, int exit, int directory, char **argv) {
    char flag = 0;
    int netns = -1, userns = -1;
    if (skiff_fd_recv(channel, &flag, 1, &netns) != 1 || netns < 0) _exit(126);
    if (flag == 'u' && (skiff_fd_recv(channel, &flag, 1, &userns) != 1 || userns < 0)) _exit(126);
    /* Out of the way first, then in place: 3 ready, 4 exit, 5 directory, 6 netns, 7 userns. */
    int from[5] = {ready, exit, directory, netns, userns};
    int high[5];
    for (int i = 0; i < 5; i++) high[i] = from[i] < 0 ? -1 : fcntl(from[i], F_DUPFD, 64);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        (void)dup2(null, 0);
        (void)dup2(null, 1);
    }
    for (int i = 0; i < 5; i++) {
        if (high[i] >= 0 && dup2(high[i], 3 + i) != 3 + i) _exit(126);
    }
    for (int fd = 8; fd < 1024; fd++) (void)close(fd);
    execvp(argv[0], argv);
    (void)fprintf(stderr, "skiff-relay --keep-netns: uplink: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int uplink_prepare(int argc, char **argv, const char *socket_path) {
    if (argc <= 0) return 0;
    char directory[4096];
    (void)snprintf(directory, sizeof directory, "%s", socket_path);
    char *slash = strrchr(directory, '/');
    if (slash == directory) slash[1] = 0;
    else if (slash) *slash = 0;
    else (void)snprintf(directory, sizeof directory, ".");
    int ready[2], exit[2], channel[2];
    uplink.directory = open(directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (uplink.directory < 0 || pipe2(ready, O_CLOEXEC) != 0 || pipe2(exit, O_CLOEXEC) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: uplink: %s: %s\n", directory, strerror(errno));
        return -1;
    }
    /* A socket left by a keeper killed earlier would make slirp4netns's bind fail. */
    (void)unlinkat(uplink.directory, ".uplink", 0);
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return -1;
    for (int i = 0; i < argc; i++) args[i] = argv[i];
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: uplink: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        close(channel[0]);
        close(ready[0]);
        close(exit[1]);
        child_exec(channel[1], ready[1], exit[0], uplink.directory, args);
    }
    free(args);
    close(channel[1]);
    close(ready[1]);
    close(exit[0]);
    uplink.pid = pid;
    uplink.channel = channel[0];
    uplink.ready_read = ready[0];
    uplink.exit_write = exit[1];
    return 0;
}

/* `nft -f -` in the keeper's namespace with `rules`; 0, or -1 with nft's message in `error`. */
static int run_nft(const char *rules, char *error, size_t size) {
    static const char *const candidates[] = {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", NULL};
    const char *nft = NULL;
    for (int i = 0; candidates[i]; i++) {
        if (access(candidates[i], X_OK) == 0) {
            nft = candidates[i];
            break;
        }
    }
    if (!nft) {
        (void)snprintf(error, size, "nft: not installed");
        return -1;
    }
    int input[2], output[2];
    if (pipe2(input, O_CLOEXEC) != 0) {
        (void)snprintf(error, size, "nft: pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(output, O_CLOEXEC) != 0) {
        (void)snprintf(error, size, "nft: pipe: %s", strerror(errno));
        close(input[0]);
        close(input[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        (void)dup2(input[0], 0);
        (void)dup2(output[1], 1);
        (void)dup2(output[1], 2);
        execl(nft, nft, "-f", "-", (char *)NULL);
        _exit(127);
    }
    close(input[0]);
    close(output[1]);
    if (pid < 0) {
        (void)snprintf(error, size, "nft: fork: %s", strerror(errno));
        close(input[1]);
        close(output[0]);
        return -1;
    }
    size_t length = strlen(rules);
    (void)!write(input[1], rules, length);
    close(input[1]);
    char text[512];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(output[0], text + got, sizeof text - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got == sizeof text - 1) break;
    }
    text[got] = 0;
    close(output[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    char *newline = strchr(text, '\n');
    if (newline) *newline = 0;
    (void)snprintf(error, size, "nft: %s", got ? text : "failed");
    return -1;
}

static const char base_rules[] =
    "add table ip skiff\n"
    "add chain ip skiff forward { type filter hook forward priority 0; policy drop; }\n"
    "add chain ip skiff prerouting { type nat hook prerouting priority -100; }\n"
    "add chain ip skiff postrouting { type nat hook postrouting priority 100; }\n"
    "add set ip skiff uplinked { type ifname; }\n"
    "add set ip skiff bridged { type ifname . ifname; }\n"
    "add map ip skiff published { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
    "add rule ip skiff forward ct state established,related accept\n"
    "add rule ip skiff forward ct status dnat accept\n"
    "add rule ip skiff forward iifname . oifname @bridged accept\n"
    "add rule ip skiff forward iifname @uplinked oifname \"tap0\" accept\n"
    "add rule ip skiff prerouting iifname \"tap0\" dnat ip to meta l4proto . th dport map @published\n"
    "add rule ip skiff postrouting oifname \"tap0\" masquerade\n";

/* IPv6 (docs/networking.md, "IPv6"): the same policy in table `ip6 skiff`, masquerading the
 * networks' IPv6 subnets to slirp4netns's (SLAAC) address on tap0. */
static const char ipv6_rules[] =
    "add table ip6 skiff\n"
    "add chain ip6 skiff forward { type filter hook forward priority 0; policy drop; }\n"
    "add chain ip6 skiff postrouting { type nat hook postrouting priority 100; }\n"
    "add set ip6 skiff uplinked { type ifname; }\n"
    "add set ip6 skiff bridged { type ifname . ifname; }\n"
    "add rule ip6 skiff forward ct state established,related accept\n"
    "add rule ip6 skiff forward iifname . oifname @bridged accept\n"
    "add rule ip6 skiff forward iifname @uplinked oifname \"tap0\" accept\n"
    "add rule ip6 skiff postrouting oifname \"tap0\" masquerade\n";

static int ipv6_uplinked;   /* the ip6 table is in place and IPv6 forwards */

static int write_sysctl(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    if (fd >= 0) close(fd);
    return ok ? 0 : -1;
}

/* IPv6 through the uplink: tap0 keeps taking slirp4netns's router advertisements once the
 * namespace forwards (accept_ra 2), the ip6 rules, then forwarding. A host without IPv6, or an
 * nft without ip6 nat, leaves IPv6 unforwarded (said on stderr), IPv4 unaffected. */
static void ipv6_uplink_start(void) {
    char error[512];
    if (write_sysctl("/proc/sys/net/ipv6/conf/tap0/accept_ra", "2\n") != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: IPv6 uplink: accept_ra: %s\n", strerror(errno));
        return;
    }
    if (run_nft(ipv6_rules, error, sizeof error) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: IPv6 uplink rules: %s\n", error);
        return;
    }
    if (write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1\n") != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: IPv6 forwarding: %s\n", strerror(errno));
        return;
    }
    ipv6_uplinked = 1;
}

static int write_forwarding(const char *value) {
    int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && write(fd, value, 2) == 2;
    if (fd >= 0) close(fd);
    return ok ? 0 : -1;
}

int uplink_start(int netns, int userns) {
    if (uplink.pid <= 0) {
        /* No uplink: nothing forwards, one network's containers reach their network only (a new
         * namespace inherits the host's IPv4 ip_forward). */
        if (write_forwarding("0\n") != 0) {
            (void)fprintf(stderr, "skiff-relay --keep-netns: ip_forward: %s\n", strerror(errno));
            return -1;
        }
        return 0;
    }
    /* slirp4netns's tap0 skips duplicate address detection, so its SLAAC address (the IPv6
     * masquerade's source) is there within milliseconds (docs/networking.md, "IPv6"). */
    (void)write_sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0\n");
    int rc = skiff_fd_send(uplink.channel, userns >= 0 ? "u" : "n", 1, netns);
    if (rc == 0 && userns >= 0) rc = skiff_fd_send(uplink.channel, "u", 1, userns);
    close(uplink.channel);
    uplink.channel = -1;
    if (rc != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: uplink (pid %d): hand over the namespace: %s\n", uplink.pid, strerror(-rc));
        return -1;
    }
    struct pollfd ready = {uplink.ready_read, POLLIN, 0};
    char byte = 0;
    int n = poll(&ready, 1, 10000);
    if (n <= 0 || read(uplink.ready_read, &byte, 1) != 1) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: uplink (pid %d): %s\n", uplink.pid,
                      n <= 0 ? "not ready within 10 s" : "exited before its interface was up");
        return -1;
    }
    close(uplink.ready_read);
    uplink.ready_read = -1;
    char error[512];
    if (run_nft(base_rules, error, sizeof error) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: uplink rules: %s\n", error);
        return -1;
    }
    /* The rules first: forwarding is on only once the isolation is in place. */
    if (write_forwarding("1\n") != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-netns: ip_forward: %s\n", strerror(errno));
        return -1;
    }
    ipv6_uplink_start();
    return 0;
}

int uplink_bridge_added(const char *bridge, int internal, char *error, size_t size) {
    if (uplink.pid <= 0) return 0;
    char rules[512];
    int n = snprintf(rules, sizeof rules, "add element ip skiff bridged { \"%s\" . \"%s\" }\n", bridge, bridge);
    if (!internal) n += snprintf(rules + n, sizeof rules - (size_t)n, "add element ip skiff uplinked { \"%s\" }\n", bridge);
    if (ipv6_uplinked) {
        n += snprintf(rules + n, sizeof rules - (size_t)n, "add element ip6 skiff bridged { \"%s\" . \"%s\" }\n", bridge, bridge);
        if (!internal) (void)snprintf(rules + n, sizeof rules - (size_t)n, "add element ip6 skiff uplinked { \"%s\" }\n", bridge);
    }
    return run_nft(rules, error, size);
}

/* One request on slirp4netns's API socket; its answer in `answer`. 0 or -errno. */
static int api_request(const char *request, char *answer, size_t size) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    (void)snprintf(address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d/.uplink", uplink.directory);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int code = errno;
        close(fd);
        return -code;
    }
    size_t length = strlen(request);
    if (write(fd, request, length) != (ssize_t)length) {
        int code = errno;
        close(fd);
        return -code;
    }
    (void)shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, answer + got, size - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got == size - 1) break;
    }
    answer[got] = 0;
    close(fd);
    return 0;
}

static void drop_forward(int index) {
    struct forward *forward = &uplink.forwards[index];
    char request[128], answer[512], rules[128], error[256];
    (void)snprintf(request, sizeof request, "{\"execute\":\"remove_hostfwd\",\"arguments\":{\"id\":%ld}}", forward->id);
    (void)api_request(request, answer, sizeof answer);
    (void)snprintf(rules, sizeof rules, "delete element ip skiff published { %s . %u }\n", forward->proto, forward->guest_port);
    (void)run_nft(rules, error, sizeof error);
    close(forward->pidfd);
    if (forward->monitor >= 0) close(forward->monitor);
    uplink.forwards[index] = uplink.forwards[--uplink.count];
}

static int reply(int connection, const char *text) {
    size_t length = strlen(text);
    return send(connection, text, length, MSG_NOSIGNAL) == (ssize_t)length ? 0 : -1;
}

int uplink_publish(int connection, int pidfd, const char *arguments) {
    char proto[8], host[64], address[32], text[640];
    unsigned host_port = 0, port = 0;
    struct in_addr parsed;
    if (sscanf(arguments, "%7s %63s %u %31s %u", proto, host, &host_port, address, &port) != 5 ||
        (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) || host_port == 0 || host_port > 65535 ||
        port == 0 || port > 65535 || inet_pton(AF_INET, address, &parsed) != 1 || inet_pton(AF_INET, host, &parsed) != 1) {
        return reply(connection, "error request: not publish tcp|udp HOSTIP HOSTPORT ADDRESS PORT");
    }
    if (uplink.pid <= 0) return reply(connection, "error publish: the network namespace has no uplink");
    if (uplink.count == UPLINK_MAX_FORWARDS) return reply(connection, "error publish: too many published ports");
    unsigned guest = UPLINK_FIRST_GUEST_PORT;
    for (int again = 1; again;) {
        again = 0;
        for (int i = 0; i < uplink.count; i++) {
            if (uplink.forwards[i].guest_port == guest) {
                guest++;
                again = 1;
            }
        }
    }
    int kept = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
    if (kept < 0) {
        (void)snprintf(text, sizeof text, "error publish %s/%u: the container's process: %s", proto, host_port, strerror(errno));
        return reply(connection, text);
    }
    char rules[160], error[512];
    (void)snprintf(rules, sizeof rules, "add element ip skiff published { %s . %u : %s . %u }\n", proto, guest, address, port);
    if (run_nft(rules, error, sizeof error) != 0) {
        close(kept);
        (void)snprintf(text, sizeof text, "error publish %s/%u: %s", proto, host_port, error);
        return reply(connection, text);
    }
    char request[256], answer[512];
    (void)snprintf(request, sizeof request,
                   "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"%s\",\"host_addr\":\"%s\",\"host_port\":%u,\"guest_port\":%u}}",
                   proto, host, host_port, guest);
    int rc = api_request(request, answer, sizeof answer);
    const char *id = rc == 0 ? strstr(answer, "\"id\"") : NULL;
    if (!id || strstr(answer, "\"return\"") == NULL) {
        (void)snprintf(rules, sizeof rules, "delete element ip skiff published { %s . %u }\n", proto, guest);
        (void)run_nft(rules, error, sizeof error);
        close(kept);
        const char *desc = rc == 0 ? strstr(answer, "\"desc\"") : NULL;
        (void)snprintf(text, sizeof text, "error publish %s:%u/%s: slirp4netns: %s", host, host_port, proto,
                       rc != 0 ? strerror(-rc) : desc ? desc : answer);
        return reply(connection, text);
    }
    id = strchr(id + 4, ':');
    /* The monitor too: the forward ends with whichever ends first, as the default network's
     * slirp4netns ends with its monitor. It is blocked in this request, so its pid is its own. */
    struct ucred peer;
    socklen_t length = sizeof peer;
    int monitor = getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peer.pid > 0
                      ? (int)syscall(SYS_pidfd_open, peer.pid, 0) : -1;
    if (monitor >= 0) (void)fcntl(monitor, F_SETFD, FD_CLOEXEC);
    struct forward *forward = &uplink.forwards[uplink.count++];
    forward->pidfd = kept;
    forward->monitor = monitor;
    forward->id = id ? strtol(id + 1, NULL, 10) : 0;
    (void)snprintf(forward->proto, sizeof forward->proto, "%s", proto);
    forward->guest_port = guest;
    return reply(connection, "ok");
}

int uplink_poll_fill(struct pollfd *fds, int room) {
    int n = 0;
    for (int i = 0; i < uplink.count && n + 1 < room; i++) {
        fds[n++] = (struct pollfd){uplink.forwards[i].pidfd, POLLIN, 0};
        if (uplink.forwards[i].monitor >= 0) fds[n++] = (struct pollfd){uplink.forwards[i].monitor, POLLIN, 0};
    }
    return n;
}

void uplink_poll_handle(const struct pollfd *fds, int count) {
    for (int i = count - 1; i >= 0; i--) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) continue;
        for (int j = 0; j < uplink.count; j++) {
            if (uplink.forwards[j].pidfd == fds[i].fd || uplink.forwards[j].monitor == fds[i].fd) {
                drop_forward(j);
                break;
            }
        }
    }
}

void uplink_end(void) {
    if (uplink.pid <= 0) return;
    while (uplink.count > 0) drop_forward(uplink.count - 1);
    if (uplink.exit_write >= 0) close(uplink.exit_write);
    uplink.exit_write = -1;
    for (int i = 0; i < 200; i++) {
        if (waitpid(uplink.pid, NULL, WNOHANG) != 0) break;
        usleep(5000);
    }
    if (uplink.directory >= 0) (void)unlinkat(uplink.directory, ".uplink", 0);
    uplink.pid = 0;
}

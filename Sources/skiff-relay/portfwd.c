/*
 * skiff-relay --forward-ports READY-FD EXIT-FD NETNS-FD USERNS-FD|- TARGET HOSTIP:HOSTPORT:PORT...
 * (docs/networking.md, "Published ports"): the TCP forwarder of a container's published ports on
 * the default network, the role of Podman's rootlessport and Docker's docker-proxy.
 *
 * Started by the container's monitor, as the monitor's user, in the host's network namespace.
 * It binds and listens on every HOSTIP:HOSTPORT first (there: the sockets stay the host's), then
 * joins the container's user namespace (rootless; its owner may) and network namespace, so that
 * every socket it makes afterwards is the container's: each accepted connection gets one,
 * connected to TARGET:PORT (the container's own address), and the bytes go both ways by
 * splice(2) through a pipe, never copied through this process. Both ends are real TCP sockets of
 * the kernel's, which is why this is several times faster than slirp4netns's forwarding
 * (user-mode TCP); the container sees its own address as the client's.
 *
 * READY-FD gets "ok" once the listeners are up and the namespaces joined, or a line saying what
 * failed, and is closed. It ends when EXIT-FD (the read end of the monitor's pipe, shared with
 * the network helper) reports hang-up: when the run ends or the monitor dies.
 */
#define _GNU_SOURCE
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS 1024
#define MAX_CONNECTIONS 4096
#define PIPE_BYTES (1 << 20)

struct pump {                  /* one direction of a connection */
    int from, to;
    int pipe_r, pipe_w;
    size_t queued, capacity;   /* bytes in the pipe; its size */
    bool eof, shut;
};

struct conn;
struct end {                   /* what epoll's data points at for a connection's socket */
    struct conn *conn;
    int fd;
    bool watched;              /* still in the epoll set (not after its hang-up, below) */
    uint32_t registered;       /* the events asked of epoll now */
};

struct conn {
    struct end client, upstream;
    bool connecting;
    struct pump up, down;      /* client -> upstream, upstream -> client */
};

enum { TAG_LISTENER = 1, TAG_EXIT = 2 };
struct listener {
    int tag;                   /* TAG_LISTENER */
    int fd;
    unsigned short port;       /* the container's */
};
static struct listener listeners[MAX_LISTENERS];
static int listener_count;
static int exit_tag = TAG_EXIT;
static struct in_addr target;
static int epoll_fd = -1;
static int connections;

static void say(int fd, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *format, ...) {
    char text[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (n < 0) return;
    if ((size_t)n >= sizeof text) n = (int)sizeof text - 1;
    (void)!write(fd, text, (size_t)n);
}

static int parse_fd(const char *text) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 1 << 20) return -1;
    return (int)v;
}

static int parse_port(const char *text, unsigned short *port) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 65535) return -1;
    *port = (unsigned short)v;
    return 0;
}

/* HOSTIP:HOSTPORT:PORT (HOSTIP may be empty: every address). Binds and listens. 0, or -1 with
 * the reason on `ready`. */
static int add_listener(const char *spec, int ready) {
    char copy[128];
    if (strlen(spec) >= sizeof copy) return say(ready, "forward-ports: %s: too long\n", spec), -1;
    strcpy(copy, spec);
    char *first = strchr(copy, ':'), *second = first ? strchr(first + 1, ':') : NULL;
    if (!first || !second) return say(ready, "forward-ports: %s: not HOSTIP:HOSTPORT:PORT\n", spec), -1;
    *first = '\0';
    *second = '\0';
    struct sockaddr_in address = {.sin_family = AF_INET};
    unsigned short host_port = 0, port = 0;
    if ((copy[0] != '\0' && inet_pton(AF_INET, copy, &address.sin_addr) != 1) ||
        parse_port(first + 1, &host_port) != 0 || parse_port(second + 1, &port) != 0)
        return say(ready, "forward-ports: %s: not HOSTIP:HOSTPORT:PORT\n", spec), -1;
    if (listener_count == MAX_LISTENERS) return say(ready, "forward-ports: more than %d ports\n", MAX_LISTENERS), -1;
    address.sin_port = htons(host_port);
    const char *shown = copy[0] != '\0' ? copy : "0.0.0.0";
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return say(ready, "publish %s:%u/tcp: socket: %s\n", shown, host_port, strerror(errno)), -1;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int e = errno;
        close(fd);
        return say(ready, "publish %s:%u/tcp: listen tcp4 %s:%u: bind: %s\n", shown, host_port, shown, host_port, strerror(e)), -1;
    }
    if (listen(fd, 512) != 0) {
        int e = errno;
        close(fd);
        return say(ready, "publish %s:%u/tcp: listen: %s\n", shown, host_port, strerror(e)), -1;
    }
    listeners[listener_count] = (struct listener){.tag = TAG_LISTENER, .fd = fd, .port = port};
    listener_count++;
    return 0;
}

/* ---- connections ------------------------------------------------------------------------------ */

static int pump_open(struct pump *p, int from, int to) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    p->pipe_r = fds[0];
    p->pipe_w = fds[1];
    int size = fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
    if (size < 0) size = fcntl(fds[1], F_GETPIPE_SZ);
    p->capacity = size > 0 ? (size_t)size : 65536;
    p->from = from;
    p->to = to;
    p->queued = 0;
    p->eof = p->shut = false;
    return 0;
}

static void conn_close(struct conn *c) {
    int fds[] = {c->client.fd, c->upstream.fd, c->up.pipe_r, c->up.pipe_w, c->down.pipe_r, c->down.pipe_w};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0) close(fds[i]);   /* closing removes them from the epoll set */
    free(c);
    connections--;
}

/* Moves what it can; -1 when the connection failed. */
static int pump_run(struct pump *p) {
    for (;;) {
        bool progress = false;
        if (p->queued > 0) {
            ssize_t n = splice(p->pipe_r, NULL, p->to, NULL, p->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                p->queued -= (size_t)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (!p->eof && p->queued < p->capacity) {
            ssize_t n = splice(p->from, NULL, p->pipe_w, NULL, p->capacity - p->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                p->queued += (size_t)n;
                progress = true;
            } else if (n == 0) {
                p->eof = true;
                progress = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (p->eof && p->queued == 0 && !p->shut) {
            (void)shutdown(p->to, SHUT_WR);
            p->shut = true;
        }
        if (!progress) return 0;
    }
}

static uint32_t interest(const struct conn *c, int fd) {
    if (c->connecting) return fd == c->upstream.fd ? EPOLLOUT : 0;
    uint32_t events = 0;
    const struct pump *pumps[] = {&c->up, &c->down};
    for (int i = 0; i < 2; i++) {
        const struct pump *p = pumps[i];
        if (p->from == fd && !p->eof && p->queued < p->capacity) events |= EPOLLIN;
        if (p->to == fd && p->queued > 0) events |= EPOLLOUT;
    }
    return events;
}

static void conn_rearm(struct conn *c) {
    struct end *ends[] = {&c->client, &c->upstream};
    for (int i = 0; i < 2; i++) {
        if (!ends[i]->watched) continue;
        uint32_t wanted = interest(c, ends[i]->fd);
        if (wanted == ends[i]->registered) continue;   /* one system call less per event */
        struct epoll_event ev = {.events = wanted, .data.ptr = ends[i]};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, ends[i]->fd, &ev) == 0) ends[i]->registered = wanted;
    }
}

/* Level-triggered, and a hang-up cannot be masked: once a socket has hung up and everything it
 * sent has been read, it leaves the set (it stays open until its connection closes); what is
 * still owed to it fails with EPIPE at the next write, which closes the connection. */
static int conn_hangup(struct conn *c, struct end *e) {
    struct pump *from = e->fd == c->up.from ? &c->up : &c->down;
    struct pump *to = from == &c->up ? &c->down : &c->up;
    if (!from->eof) return 0;   /* still data to read: it comes as the other side drains */
    if (to->queued > 0) return -1;
    (void)epoll_ctl(epoll_fd, EPOLL_CTL_DEL, e->fd, NULL);
    e->watched = false;
    return 0;
}

static void conn_event(struct end *e, uint32_t events) {
    struct conn *c = e->conn;
    if (c->connecting) {
        if (e == &c->client) {   /* only a hang-up is asked of it while connecting */
            if (events & (EPOLLHUP | EPOLLERR)) conn_close(c);
            return;
        }
        int error = 0;
        socklen_t length = sizeof error;
        if (getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
            conn_close(c);   /* nothing listens there: the client sees its connection closed */
            return;
        }
        c->connecting = false;
        if (pump_open(&c->up, c->client.fd, c->upstream.fd) != 0 ||
            pump_open(&c->down, c->upstream.fd, c->client.fd) != 0) {
            conn_close(c);
            return;
        }
    }
    if (pump_run(&c->up) != 0 || pump_run(&c->down) != 0 || (c->up.shut && c->down.shut) ||
        ((events & (EPOLLHUP | EPOLLERR)) && conn_hangup(c, e) != 0)) {
        conn_close(c);
        return;
    }
    conn_rearm(c);
}

static void accept_on(const struct listener *l) {
    for (;;) {
        int client = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) return;   /* EAGAIN, or out of descriptors: the next event tries again */
        if (connections >= MAX_CONNECTIONS) {
            close(client);
            continue;
        }
        int upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct conn *c = upstream >= 0 ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            if (upstream >= 0) close(upstream);
            close(client);
            continue;
        }
        connections++;
        int one = 1;
        (void)setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        (void)setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->client = (struct end){.conn = c, .fd = client, .watched = true, .registered = 0};
        c->upstream = (struct end){.conn = c, .fd = upstream, .watched = true, .registered = EPOLLOUT};
        c->up.pipe_r = c->up.pipe_w = c->down.pipe_r = c->down.pipe_w = -1;
        c->connecting = true;
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(l->port), .sin_addr = target};
        if (connect(upstream, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
            conn_close(c);
            continue;
        }
        struct epoll_event a = {.events = 0, .data.ptr = &c->client};
        struct epoll_event b = {.events = EPOLLOUT, .data.ptr = &c->upstream};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &a) != 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, upstream, &b) != 0) {
            conn_close(c);
            continue;
        }
    }
}

int portfwd_main(int argc, char **argv) {
    /* argv: --forward-ports READY EXIT NETNS USERNS|- TARGET SPEC... */
    if (argc < 7) {
        fprintf(stderr, "usage: skiff-relay --forward-ports READY-FD EXIT-FD NETNS-FD USERNS-FD|- TARGET HOSTIP:HOSTPORT:PORT...\n");
        return 2;
    }
    int ready = parse_fd(argv[2]), exit_fd = parse_fd(argv[3]), netns = parse_fd(argv[4]);
    int userns = strcmp(argv[5], "-") == 0 ? -1 : parse_fd(argv[5]);
    if (ready < 0 || exit_fd < 0 || netns < 0 || (userns < 0 && strcmp(argv[5], "-") != 0)) {
        fprintf(stderr, "skiff-relay --forward-ports: bad descriptor arguments\n");
        return 2;
    }
    if (inet_pton(AF_INET, argv[6], &target) != 1) {
        say(ready, "forward-ports: target %s: not an IPv4 address\n", argv[6]);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* A descriptor per connection end and four pipe ends: as many as may be had. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &limit);
    }
    for (int i = 7; i < argc; i++)
        if (add_listener(argv[i], ready) != 0) return 1;
    if (userns >= 0 && setns(userns, CLONE_NEWUSER) != 0) {
        say(ready, "forward-ports: join the container's user namespace: %s\n", strerror(errno));
        return 1;
    }
    if (setns(netns, CLONE_NEWNET) != 0) {
        say(ready, "forward-ports: join the container's network namespace: %s\n", strerror(errno));
        return 1;
    }
    close(netns);
    if (userns >= 0) close(userns);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
        say(ready, "forward-ports: epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLHUP, .data.ptr = &exit_tag};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, exit_fd, &ev) != 0) {
        say(ready, "forward-ports: watch the exit pipe: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < listener_count; i++) {
        struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listeners[i]};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listeners[i].fd, &le) != 0) {
            say(ready, "forward-ports: watch a listener: %s\n", strerror(errno));
            return 1;
        }
    }
    say(ready, "ok\n");
    close(ready);
    /* Nothing else is needed from stdio; the monitor's diagnostics stay on fd 2. */
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        /* Listeners and the exit pipe first: a connection closed in this batch may have freed
         * an `end` that a later event of the batch points at, so connection events are handled
         * only when their connection is still the one registered (checked by a second wait). */
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &exit_tag) return 0;
        }
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p >= (void *)&listeners[0] && p < (void *)&listeners[MAX_LISTENERS]) {
                accept_on(p);
                events[i].data.ptr = NULL;
            }
        }
        for (int i = 0; i < n; i++) {
            struct end *e = events[i].data.ptr;
            if (!e) continue;
            struct conn *c = e->conn;
            conn_event(e, events[i].events);
            /* conn_event may free `c`: every later event of this batch for the same connection
             * is dropped (level-triggered, it comes again if it still holds). */
            for (int j = i + 1; j < n; j++) {
                struct end *o = events[j].data.ptr;
                if (o && (o == &c->client || o == &c->upstream)) events[j].data.ptr = NULL;
            }
        }
    }
}

/*
 * pingload: a tiny HTTP/1.1 load generator for a unix-domain socket.
 *
 * Sends "GET /_ping HTTP/1.1" over C keep-alive connections, one request in
 * flight per connection (no pipelining), finds the end of every response from
 * its Content-Length, its chunked encoding or (Connection: close / no length)
 * the end of the stream, and reports requests per second and latency
 * percentiles. One thread, epoll, non-blocking sockets.
 *
 * Modes (all print one line of key=value pairs on stdout):
 *   load (default)   -c CONNS -n COUNT -d SECONDS [-w WARMUP]
 *                    stops issuing at COUNT measured requests or after
 *                    SECONDS, whichever comes first, then drains.
 *   --once           one request on a fresh connection; times the whole
 *                    socket()+connect()+send+full response.
 *   --wait-ready S   retries --once every 2 ms for up to S seconds until a
 *                    2xx arrives; prints the CLOCK_REALTIME of that moment.
 *   --wait-connect S retries a bare connect() every 2 ms for up to S seconds
 *                    (for a non-HTTP socket such as containerd's); prints the
 *                    CLOCK_REALTIME of the first success.
 *
 * Exit status: 0 all requests answered 2xx; 1 any error; 2 usage.
 *
 * Build: gcc -O2 -Wall -o pingload pingload.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536
#define MAX_CONNS 1024
#define MAX_ERRORS_LOGGED 10
#define MAX_ERRORS 100

static const char *sock_path;
static char request[512];
static size_t request_len;
static long errors;
static long reconnects;

static uint64_t now_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static uint64_t mono(void) { return now_ns(CLOCK_MONOTONIC); }

static void err(const char *fmt, ...) {
    errors++;
    if (errors <= MAX_ERRORS_LOGGED) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "pingload: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

/* ---------- response parsing ---------- */

enum { P_INCOMPLETE = 0, P_DONE = 1, P_BAD = -1 };

struct parsed {
    int status;
    int conn_close;     /* server said Connection: close (or HTTP/1.0 without keep-alive) */
    int until_eof;      /* body delimited by end of stream */
    size_t consumed;    /* bytes of this response */
};

static int hdr_is(const char *line, size_t len, const char *name) {
    size_t n = strlen(name);
    return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static const char *memmem_ci_token(const char *v, size_t len, const char *tok) {
    size_t n = strlen(tok);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(v + i, tok, n) == 0) return v + i;
    return NULL;
}

/* Returns P_DONE with *p filled, P_INCOMPLETE, or P_BAD. eof: the peer closed. */
static int parse_response(const char *b, size_t len, int eof, struct parsed *p) {
    memset(p, 0, sizeof *p);
    const char *he = memmem(b, len, "\r\n\r\n", 4);
    if (!he) return eof ? P_BAD : P_INCOMPLETE;
    size_t hlen = (size_t)(he - b) + 4;
    if (len < 12 || strncmp(b, "HTTP/1.", 7) != 0) return P_BAD;
    int http10 = b[7] == '0';
    if (b[8] != ' ') return P_BAD;
    p->status = atoi(b + 9);
    if (p->status < 100 || p->status > 599) return P_BAD;
    long clen = -1;
    int chunked = 0, keep_alive = 0;
    p->conn_close = 0;
    const char *line = memchr(b, '\n', hlen) + 1;
    while (line < b + hlen - 2) {
        const char *eol = memchr(line, '\n', (size_t)(b + hlen - line));
        if (!eol) return P_BAD;
        size_t ll = (size_t)(eol - line);
        if (ll && line[ll - 1] == '\r') ll--;
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            const char *v = colon + 1;
            size_t vl = ll - (size_t)(v - line);
            while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
            if (hdr_is(line, ll, "content-length")) {
                char tmp[32];
                if (vl == 0 || vl >= sizeof tmp) return P_BAD;
                memcpy(tmp, v, vl); tmp[vl] = 0;
                char *end;
                clen = strtol(tmp, &end, 10);
                if (*end || clen < 0) return P_BAD;
            } else if (hdr_is(line, ll, "transfer-encoding")) {
                if (memmem_ci_token(v, vl, "chunked")) chunked = 1;
            } else if (hdr_is(line, ll, "connection")) {
                if (memmem_ci_token(v, vl, "close")) p->conn_close = 1;
                if (memmem_ci_token(v, vl, "keep-alive")) keep_alive = 1;
            }
        }
        line = eol + 1;
    }
    if (http10 && !keep_alive) p->conn_close = 1;

    if (p->status < 200 || p->status == 204 || p->status == 304) {
        p->consumed = hlen;
        return P_DONE;
    }
    if (chunked) {
        size_t off = hlen;
        for (;;) {
            const char *crlf = memmem(b + off, len - off, "\r\n", 2);
            if (!crlf) return eof ? P_BAD : P_INCOMPLETE;
            char *end;
            unsigned long sz = strtoul(b + off, &end, 16);
            if (end == b + off) return P_BAD;
            off = (size_t)(crlf - b) + 2;
            if (sz == 0) {
                /* trailers (usually none) end with an empty line */
                for (;;) {
                    const char *t = memmem(b + off, len - off, "\r\n", 2);
                    if (!t) return eof ? P_BAD : P_INCOMPLETE;
                    size_t tl = (size_t)(t - (b + off));
                    off += tl + 2;
                    if (tl == 0) { p->consumed = off; return P_DONE; }
                }
            }
            if (len - off < sz + 2) return eof ? P_BAD : P_INCOMPLETE;
            off += sz;
            if (b[off] != '\r' || b[off + 1] != '\n') return P_BAD;
            off += 2;
        }
    }
    if (clen >= 0) {
        if (len - hlen < (size_t)clen) return eof ? P_BAD : P_INCOMPLETE;
        p->consumed = hlen + (size_t)clen;
        return P_DONE;
    }
    /* no length: the body runs to the end of the stream */
    p->until_eof = 1;
    p->conn_close = 1;
    if (!eof) return P_INCOMPLETE;
    p->consumed = len;
    return P_DONE;
}

/* ---------- sockets ---------- */

static int open_conn(int nonblock) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(sock_path) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; close(fd); return -1; }
    strcpy(sa.sun_path, sock_path);
    /* A unix-socket connect completes at once or fails (EAGAIN: backlog full). */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Blocking single request on a fresh connection. Returns status or -1. */
static int one_request(uint64_t *total_ns, uint64_t *first_byte_ns, int quiet) {
    static char buf[BUFSZ];
    uint64_t t0 = mono();
    int fd = open_conn(0);
    if (fd < 0) {
        if (!quiet) err("connect %s: %s", sock_path, strerror(errno));
        return -1;
    }
    struct timeval tv = { .tv_sec = 30, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < request_len) {
        ssize_t w = write(fd, request + off, request_len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (!quiet) err("write: %s", strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    size_t len = 0;
    int eof = 0;
    struct parsed p;
    *first_byte_ns = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (!quiet) err("read: %s", strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0) eof = 1;
        else if (!*first_byte_ns) *first_byte_ns = mono() - t0;
        len += (size_t)r;
        int rc = parse_response(buf, len, eof, &p);
        if (rc == P_DONE) break;
        if (rc == P_BAD || eof || len == sizeof buf) {
            if (!quiet) err("bad or truncated response (%zu bytes)", len);
            close(fd);
            return -1;
        }
    }
    *total_ns = mono() - t0;
    close(fd);
    if ((p.status < 200 || p.status > 299) && !quiet) err("status %d", p.status);
    return p.status;
}

/* ---------- load mode ---------- */

struct conn {
    int fd;
    int busy;           /* a request is in flight */
    uint64_t sent_at;
    size_t len;
    char *buf;
};

static uint64_t *lat;
static size_t nlat, caplat;

static void record(uint64_t ns) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) { perror("realloc"); exit(1); }
    }
    lat[nlat++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q) {
    if (!nlat) return 0;
    size_t i = (size_t)(q * (double)(nlat - 1) + 0.5);
    return lat[i] / 1000.0;
}

static void conn_close(int ep, struct conn *c) {
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = 0;
    c->len = 0;
}

static int conn_open(int ep, struct conn *c, int idx) {
    c->fd = open_conn(1);
    if (c->fd < 0) {
        err("connect %s: %s", sock_path, strerror(errno));
        return -1;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)idx };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        perror("epoll_ctl");
        exit(1);
    }
    return 0;
}

/* send one request; the request is tiny, so a short write on a fresh or idle
   unix socket would mean something is badly wrong: treat it as an error. */
static int conn_send(struct conn *c) {
    c->sent_at = mono();
    ssize_t w;
    do w = write(c->fd, request, request_len); while (w < 0 && errno == EINTR);
    if (w != (ssize_t)request_len) {
        err("write: %s", w < 0 ? strerror(errno) : "short write");
        return -1;
    }
    c->busy = 1;
    c->len = 0;
    return 0;
}

static volatile sig_atomic_t interrupted;
static void on_sig(int s) { (void)s; interrupted = 1; }

static int run_load(int nconns, long count, double duration, long warmup, double timeout) {
    uint64_t tmo = (uint64_t)(timeout * 1e9);
    uint64_t t_begin = mono(), hard_deadline = 0, t_start = t_begin, deadline = 0, t_end = 0;
    int measuring = warmup == 0;
    long issued = 0;        /* measured requests issued */
    long warm_done = 0;
    int inflight = 0;
    int stopping = 0;
    struct conn *cs = calloc((size_t)nconns, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0) { perror("setup"); return 1; }
    for (int i = 0; i < nconns; i++) {
        cs[i].fd = -1;
        cs[i].buf = malloc(BUFSZ);
        if (!cs[i].buf) { perror("malloc"); return 1; }
        if (conn_open(ep, &cs[i], i) < 0) goto out;
    }

    t_begin = mono();
    hard_deadline = t_begin + (uint64_t)((duration + timeout + 60) * 1e9);
    t_start = t_begin;
    deadline = t_begin + (uint64_t)(duration * 1e9);

    for (int i = 0; i < nconns; i++) {
        if (!measuring && warm_done + inflight >= warmup) break;
        if (measuring && count && issued >= count) break;
        if (conn_send(&cs[i]) < 0) goto out;
        inflight++;
        if (measuring) issued++;
    }

    struct epoll_event evs[MAX_CONNS];
    while (inflight > 0) {
        if (interrupted) { err("interrupted"); break; }
        uint64_t now = mono();
        if (now > hard_deadline) { err("hard deadline passed"); break; }
        /* per-request timeout */
        for (int i = 0; i < nconns; i++)
            if (cs[i].busy && now - cs[i].sent_at > tmo) {
                err("request timed out after %.1f s", timeout);
                goto out;
            }
        int n = epoll_wait(ep, evs, MAX_CONNS, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            break;
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = &cs[evs[k].data.u32];
            int idx = (int)evs[k].data.u32;
            if (c->fd < 0) continue;
            int eof = 0;
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - c->len);
                if (r > 0) { c->len += (size_t)r; if (c->len == BUFSZ) break; continue; }
                if (r == 0) { eof = 1; break; }
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                err("read: %s", strerror(errno));
                eof = -1;
                break;
            }
            if (!c->busy) {
                /* idle connection closed or sent something unsolicited */
                if (c->len) err("unsolicited %zu bytes", c->len);
                if (eof) { conn_close(ep, c); reconnects++; if (conn_open(ep, c, idx) < 0) goto out; }
                continue;
            }
            struct parsed p;
            int rc = eof < 0 ? P_BAD : parse_response(c->buf, c->len, eof, &p);
            if (rc == P_INCOMPLETE && c->len < BUFSZ) continue;
            uint64_t done = mono();
            inflight--;
            int reopen = 0;
            if (rc != P_DONE) {
                err("bad or truncated response (%zu bytes%s)", c->len, eof ? ", peer closed" : "");
                reopen = 1;
            } else {
                if (p.status < 200 || p.status > 299) err("status %d", p.status);
                if (p.consumed != c->len) err("%zu unexpected bytes after response", c->len - p.consumed);
                if (measuring) record(done - c->sent_at);
                else warm_done++;
                reopen = p.conn_close || eof;
            }
            c->busy = 0;
            if (errors > MAX_ERRORS) { fprintf(stderr, "pingload: too many errors\n"); goto out; }
            if (reopen) {
                conn_close(ep, c);
                reconnects++;
                if (conn_open(ep, c, idx) < 0) goto out;
            }
            /* issue the next request on this connection? */
            if (!measuring) {
                if (warm_done + inflight < warmup) {
                    if (conn_send(c) < 0) goto out;
                    inflight++;
                } else if (inflight == 0) {
                    /* warm-up done: start the measured phase on all connections */
                    measuring = 1;
                    t_start = done;
                    deadline = done + (uint64_t)(duration * 1e9);
                    for (int i = 0; i < nconns; i++) {
                        if (count && issued >= count) break;
                        if (conn_send(&cs[i]) < 0) goto out;
                        inflight++;
                        issued++;
                    }
                }
                continue;
            }
            if (!stopping && ((count && issued >= count) || done >= deadline)) stopping = 1;
            if (!stopping) {
                if (conn_send(c) < 0) goto out;
                inflight++;
                issued++;
            }
            if (inflight == 0) t_end = done;
        }
    }
out:
    if (!t_end) t_end = mono();
    for (int i = 0; i < nconns; i++) if (cs[i].fd >= 0) close(cs[i].fd);
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    double el = (double)(t_end - t_start) / 1e9;
    double sum = 0;
    for (size_t i = 0; i < nlat; i++) sum += (double)lat[i];
    printf("mode=load conns=%d requests=%zu errors=%ld reconnects=%ld elapsed_s=%.3f rps=%.0f "
           "lat_us_min=%.1f lat_us_p50=%.1f lat_us_p90=%.1f lat_us_p99=%.1f lat_us_p999=%.1f "
           "lat_us_max=%.1f lat_us_mean=%.1f\n",
           nconns, nlat, errors, reconnects, el, el > 0 ? (double)nlat / el : 0,
           nlat ? lat[0] / 1000.0 : 0, pct(0.50), pct(0.90), pct(0.99), pct(0.999),
           nlat ? lat[nlat - 1] / 1000.0 : 0, nlat ? sum / (double)nlat / 1000.0 : 0);
    if (nlat == 0 && !errors) err("no request completed");
    return errors ? 1 : 0;
}

static void usage(void) {
    fprintf(stderr,
        "usage: pingload -s SOCKET [-p PATH] [-c CONNS] [-n COUNT] [-d SECONDS] [-w WARMUP] [-t TIMEOUT]\n"
        "       pingload -s SOCKET [-p PATH] --once\n"
        "       pingload -s SOCKET [-p PATH] --wait-ready SECONDS\n"
        "       pingload -s SOCKET --wait-connect SECONDS\n"
        "  -c  keep-alive connections, one request in flight each (default 1, max %d)\n"
        "  -n  stop after COUNT measured requests (0 = no count bound; default 0)\n"
        "  -d  stop issuing after SECONDS (default 10, max 600)\n"
        "  -w  unmeasured warm-up requests first (default 0)\n"
        "  -t  per-request timeout in seconds (default 10)\n"
        "  -p  request path (default /_ping)\n", MAX_CONNS);
    exit(2);
}

int main(int argc, char **argv) {
    int nconns = 1, once = 0;
    long count = 0, warmup = 0;
    double duration = 10, timeout = 10, wait_ready = -1, wait_connect = -1;
    const char *path = "/_ping";
    static const struct option lo[] = {
        { "once", no_argument, 0, 'O' },
        { "wait-ready", required_argument, 0, 'R' },
        { "wait-connect", required_argument, 0, 'C' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "s:c:n:d:w:t:p:h", lo, NULL)) != -1) {
        switch (o) {
        case 's': sock_path = optarg; break;
        case 'c': nconns = atoi(optarg); break;
        case 'n': count = atol(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atol(optarg); break;
        case 't': timeout = atof(optarg); break;
        case 'p': path = optarg; break;
        case 'O': once = 1; break;
        case 'R': wait_ready = atof(optarg); break;
        case 'C': wait_connect = atof(optarg); break;
        default: usage();
        }
    }
    if (!sock_path || nconns < 1 || nconns > MAX_CONNS || count < 0 || warmup < 0 ||
        duration <= 0 || duration > 600 || timeout <= 0 || wait_ready > 600 || wait_connect > 600 || strlen(path) > 256)
        usage();
    request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);

    if (once) {
        uint64_t total, fb;
        int st = one_request(&total, &fb, 0);
        if (st < 0) return 1;
        printf("mode=once status=%d total_us=%.1f first_byte_us=%.1f\n", st, total / 1000.0, fb / 1000.0);
        return st >= 200 && st <= 299 ? 0 : 1;
    }
    if (wait_connect >= 0) {
        uint64_t t0 = mono(), limit = t0 + (uint64_t)(wait_connect * 1e9);
        int tries = 0;
        for (;;) {
            tries++;
            int fd = open_conn(0);
            if (fd >= 0) {
                uint64_t rt = now_ns(CLOCK_REALTIME);
                close(fd);
                printf("mode=wait-connect ready_realtime_ns=%" PRIu64 " tries=%d waited_us=%.1f\n",
                       rt, tries, (mono() - t0) / 1000.0);
                return 0;
            }
            if (mono() > limit || interrupted) {
                fprintf(stderr, "pingload: cannot connect to %s after %.1f s (%d tries): %s\n",
                        sock_path, wait_connect, tries, strerror(errno));
                return 1;
            }
            struct timespec ts = { 0, 2000000 };
            nanosleep(&ts, NULL);
        }
    }
    if (wait_ready >= 0) {
        uint64_t t0 = mono(), limit = t0 + (uint64_t)(wait_ready * 1e9);
        int tries = 0;
        for (;;) {
            uint64_t total, fb;
            tries++;
            int st = one_request(&total, &fb, 1);
            if (st >= 200 && st <= 299) {
                printf("mode=wait-ready ready_realtime_ns=%" PRIu64 " tries=%d waited_us=%.1f\n",
                       now_ns(CLOCK_REALTIME), tries, (mono() - t0) / 1000.0);
                return 0;
            }
            if (mono() > limit || interrupted) {
                fprintf(stderr, "pingload: %s not ready after %.1f s (%d tries)\n", sock_path, wait_ready, tries);
                return 1;
            }
            struct timespec ts = { 0, 2000000 };
            nanosleep(&ts, NULL);
        }
    }
    return run_load(nconns, count, duration, warmup, timeout);
}

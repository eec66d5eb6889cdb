/*
 * pingserver: the cheapest possible /_ping server, used only to calibrate the
 * benchmark: pingload against it shows what this machine and the load
 * generator can do at all (for example the cost of waking a sleeping CPU in a
 * VM), so the peers' figures can be read against that ceiling.
 *
 * One thread, epoll, unix socket. Answers every request it finds (a blank
 * line ends one) with a fixed 200 "OK". Exits after IDLE seconds without a
 * connection event (default 30) or on SIGTERM.
 *
 * usage: pingserver SOCKET [IDLE_SECONDS]
 * Build: gcc -O2 -Wall -o pingserver pingserver.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char resp[] =
    "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK";

struct cbuf { size_t len; char data[4096]; };

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: pingserver SOCKET [IDLE_SECONDS]\n"); return 2; }
    int idle = argc > 2 ? atoi(argv[2]) : 30;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof sa.sun_path) { fprintf(stderr, "path too long\n"); return 2; }
    strcpy(sa.sun_path, argv[1]);
    unlink(argv[1]);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 128) < 0) {
        perror("pingserver: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, idle * 1000);
        if (n == 0) break;
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                int s;
                while ((s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct cbuf *c = calloc(1, sizeof *c);
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                    if (!c) { close(s); continue; }
                    /* keep the fd in front of the buffer: stash it in the first bytes */
                    c->len = 0;
                    memcpy(c->data + sizeof c->data - sizeof s, &s, sizeof s);
                    epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
                }
                continue;
            }
            struct cbuf *c = evs[i].data.ptr;
            int fd;
            memcpy(&fd, c->data + sizeof c->data - sizeof fd, sizeof fd);
            size_t room = sizeof c->data - sizeof fd - c->len;
            ssize_t r = read(fd, c->data + c->len, room);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                close(fd);
                free(c);
                continue;
            }
            c->len += (size_t)r;
            char *end;
            while ((end = memmem(c->data, c->len, "\r\n\r\n", 4)) != NULL) {
                size_t used = (size_t)(end - c->data) + 4;
                if (write(fd, resp, sizeof resp - 1) < 0) break;
                memmove(c->data, c->data + used, c->len - used);
                c->len -= used;
            }
            if (c->len == sizeof c->data - sizeof fd) { close(fd); free(c); }
        }
    }
    unlink(argv[1]);
    return 0;
}

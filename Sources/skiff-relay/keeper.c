/*
 * skiff-relay --keep-userns SOCKET-PATH IDLE-SECONDS: the user namespace keeper (rootless).
 *
 * A rootless container needs a user namespace that maps the user's /etc/subuid and /etc/subgid
 * ranges, and only the setuid newuidmap and newgidmap can write such a map: two programs to run
 * for every container, the largest part of its start. As Podman's pause process does, one
 * process holds one such namespace, and the containers join it. skiff-monitor makes it: the
 * process is created in a new user namespace, mapped, and execs this program with the listening
 * socket SOCKET-PATH as descriptor 3. Each connection gets this process's pid (4 bytes, for a
 * look at its id maps) with a descriptor of the namespace (SCM_RIGHTS), and is closed.
 *
 * It ends after IDLE-SECONDS without a connection when no other process is in its namespace
 * (userns_census.c), or as soon as SOCKET-PATH no longer names its socket (the runtime directory
 * went away): the containers keep the namespace while they run, and the next one to start makes
 * a new keeper. It holds no other descriptor, and its working
 * directory is /.
 */
#define _GNU_SOURCE
#include "relay.h"
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

long long keeper_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec;
}

int keeper_detach(void) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        (void)dup2(null, 0);
        (void)dup2(null, 1);
        (void)dup2(null, 2);
        if (null > 2) close_fd(null);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    return chdir("/");
}

/* Whether `path` is still the file our socket was bound to (a socket's own fstat tells the
 * socket, not the file). */
static int still_ours(const char *path, const struct stat *bound) {
    struct stat now;
    if (lstat(path, &now) != 0) return 0;
    return now.st_ino == bound->st_ino && now.st_dev == bound->st_dev;
}

static void hand_out(int connection, int namespace) {
    int me = (int)getpid();
    (void)skiff_fd_send(connection, &me, sizeof me, namespace);
}

int keeper_main(int argc, char **argv) {
    if (argc != 4) {
        (void)fprintf(stderr, "usage: skiff-relay --keep-userns SOCKET-PATH IDLE-SECONDS\n");
        return 2;
    }
    const char *path = argv[2];
    long idle = strtol(argv[3], NULL, 10);
    if (idle <= 0) idle = 30;
    const int listener = 3;
    struct stat bound;
    if (fcntl(listener, F_SETFD, FD_CLOEXEC) != 0 || lstat(path, &bound) != 0) {
        (void)fprintf(stderr, "skiff-relay --keep-userns: %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* Nothing else stays open; signals that would end it by accident do not. */
    if (syscall(SYS_close_range, 4, ~0U, 0) != 0) {
        for (int fd = 4; fd < 1024; fd++) (void)close(fd);
    }
    int namespace = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (namespace < 0) {
        (void)fprintf(stderr, "skiff-relay --keep-userns: /proc/self/ns/user: %s\n", strerror(errno));
        return 1;
    }
    if (keeper_detach() != 0) return 1;

    long long last = keeper_now();
    for (;;) {
        struct pollfd waiting = {listener, POLLIN, 0};
        int ready = poll(&waiting, 1, 1000);
        if (ready < 0 && errno != EINTR) return 1;
        if (ready > 0) {
            int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (connection >= 0) {
                hand_out(connection, namespace);
                (void)close(connection);
                last = keeper_now();
            }
            continue;
        }
        if (!still_ours(path, &bound)) return 0;
        if (keeper_now() - last >= idle) {
            /* Not while containers are in the namespace: they and the network keeper share it. */
            if (userns_in_use(namespace)) {
                last = keeper_now();
                continue;
            }
            /* The path goes first: a monitor that connects from now on makes a new keeper. */
            (void)unlink(path);
            return 0;
        }
    }
}

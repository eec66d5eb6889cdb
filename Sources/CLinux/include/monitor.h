#ifndef SKIFF_CLINUX_MONITOR_H
#define SKIFF_CLINUX_MONITOR_H
/* What skiff-monitor needs from the kernel and Swift cannot call: signalfd, variadic ioctl and
 * fcntl, fork, accept4, a unix socket listening at a path. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include "skiff_syscall.h"

/* Blocks SIGCHLD (and the other signals in `signals`) and returns a non-blocking signalfd for
 * them, or -errno. */
static inline int skiff_monitor_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* The next signal from a signalfd: its number, 0 when none is pending, -errno. */
static inline int skiff_monitor_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = SKIFF_RETRY(read(fd, &info, sizeof info));
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    if (n != (ssize_t)sizeof info) return 0;
    return (int)info.ssi_signo;
}

/* prctl(PR_SET_CHILD_SUBREAPER): orphans in the container come to us to be reaped. */
static inline int skiff_monitor_set_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}

static inline void skiff_monitor_ignore_sigpipe(void) {
    signal(SIGPIPE, SIG_IGN);
}

/* 1 when `pid` (a child) has exited and waits to be reaped, 0 when it has not, -errno. The
 * child stays a zombie (WNOWAIT): whoever reaps it next still gets its status. */
#include <sys/wait.h>
static inline int skiff_monitor_has_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -errno;
    return info.si_pid == pid ? 1 : 0;
}

static inline pid_t skiff_monitor_fork(void) {
    return fork();
}

static inline int skiff_monitor_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    return 0;
}

static inline int skiff_monitor_set_cloexec(int fd) {
    return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0;
}

/* Lets `fd` through an exec (the hand-over to skiff-relay). */
static inline int skiff_monitor_clear_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) return -errno;
    return 0;
}

/* TIOCSWINSZ on a pty master. */
static inline int skiff_monitor_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize size;
    memset(&size, 0, sizeof size);
    size.ws_row = rows;
    size.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &size) < 0 ? -errno : 0;
}

/* A SOCK_STREAM unix socket listening at `path` (mode 0600, any old file there removed),
 * non-blocking and close-on-exec; -ENAMETOOLONG when `path` does not fit sun_path (reach the
 * directory as /proc/self/fd/N instead). */
static inline int skiff_monitor_listen(const char *path, int backlog) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) return -ENAMETOOLONG;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    unlink(path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&address, sizeof address);
    umask(old);
    if (rc != 0 || listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* accept4 (a raw syscall: glibc declares it only with _GNU_SOURCE) with SOCK_NONBLOCK | SOCK_CLOEXEC; -errno (-EAGAIN: none queued). */
static inline int skiff_monitor_accept(int fd) {
    int client = (int)SKIFF_RETRY(syscall(SYS_accept4, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    return client < 0 ? -errno : client;
}

/* send() without SIGPIPE; -errno. */
static inline ssize_t skiff_monitor_send(int fd, const void *bytes, size_t count) {
    ssize_t n = SKIFF_RETRY(send(fd, bytes, count, MSG_NOSIGNAL | MSG_DONTWAIT));
    return n < 0 ? -errno : n;
}

/* One datagram on the sync socket (SOCK_SEQPACKET): bytes received, 0 on EOF, -errno. */
static inline ssize_t skiff_monitor_recv(int fd, void *bytes, size_t count) {
    ssize_t n = SKIFF_RETRY(recv(fd, bytes, count, 0));
    return n < 0 ? -errno : n;
}

/* A healthcheck probe's child (Monitor's HealthProbe): killed when the probe dies (the relay kills
 * the probe when the container stops), in its own process group (what the probe kills at its
 * timeout). 0, or -1 with errno. */
static inline int skiff_monitor_probe_child(pid_t parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return -1;
    if (getppid() != parent) return -1;
    return setpgid(0, 0);
}

#endif

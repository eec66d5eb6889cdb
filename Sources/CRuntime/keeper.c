/* The rootless user namespace keeper's start (Runtime's SharedUserNamespace): a process in a new
 * user namespace, nobody's child but init's, that waits to be mapped and then execs
 * `skiff-relay --keep-userns`. */
#define _GNU_SOURCE
#include "cruntime.h"
#include "fdpass.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int read_full(int fd, void *bytes, size_t count) {
    size_t done = 0;
    while (done < count) {
        ssize_t n = read(fd, (char *)bytes + done, count - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

pid_t skiff_keeper_start(const char *relay, char *const argv[], int listener, int *go_fd) {
    int report[2], go[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    if (pipe2(go, O_CLOEXEC) != 0) {
        int err = errno;
        close(report[0]);
        close(report[1]);
        return -err;
    }
    /* A subreaper (the monitor is one) would adopt the keeper when the middle process exits:
     * not one for that moment, so the keeper goes to init (or the user's manager) at once. */
    int subreaper = 0;
    (void)prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
    if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    pid_t middle = fork();
    if (middle < 0) {
        int err = errno;
        close(report[0]); close(report[1]); close(go[0]); close(go[1]);
        if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        return -err;
    }
    if (middle == 0) {
        /* The middle process: makes the keeper and exits, so the keeper is init's. */
        close(report[0]);
        close(go[1]);
        long keeper = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (keeper == 0) {
            char byte = 0;
            if (read_full(go[0], &byte, 1) != 0 || byte != 'g') _exit(1);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            setsid();
            if (dup2(listener, 3) != 3) _exit(127);
            execv(relay, argv);
            _exit(127);
        }
        int value = keeper > 0 ? (int)keeper : -errno;
        (void)!write(report[1], &value, sizeof value);
        _exit(0);
    }
    close(report[1]);
    close(go[0]);
    int value = -EPIPE;
    if (read_full(report[0], &value, sizeof value) != 0) value = -EPIPE;
    close(report[0]);
    int status = 0;
    (void)SKIFF_RETRY(waitpid(middle, &status, 0));
    if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (value <= 0) {
        close(go[1]);
        return value < 0 ? value : -ECHILD;
    }
    *go_fd = go[1];
    return (pid_t)value;
}

/* A stream socket and the address of `path`: its fd, or -errno. */
static int unix_socket_for(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) return -ENAMETOOLONG;
    strcpy(address->sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int skiff_keeper_connect(const char *path, int *namespace_fd, int *keeper_pid) {
    struct sockaddr_un address;
    int fd = unix_socket_for(path, &address);
    if (fd < 0) return fd;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    /* The keeper answers at once; a second bounds a stuck one. */
    struct timeval limit = {1, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    int pid = 0;
    int received = -1;
    ssize_t n = skiff_fd_recv(fd, &pid, sizeof pid, &received);
    close(fd);
    if (n != (ssize_t)sizeof pid || received < 0) {
        if (received >= 0) close(received);
        return n < 0 ? (int)n : -EPROTO;
    }
    *namespace_fd = received;
    *keeper_pid = pid;
    return 0;
}

int skiff_keeper_listen(const char *path) {
    struct sockaddr_un address;
    int fd = unix_socket_for(path, &address);
    if (fd < 0) return fd;
    (void)unlink(path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&address, sizeof address);
    umask(old);
    if (rc != 0 || listen(fd, 64) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

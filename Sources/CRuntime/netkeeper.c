/* The monitor's side of the per-user network namespace keeper (cnetkeeper.h). */
#define _GNU_SOURCE
#include "cnetkeeper.h"
#include "fdpass.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int seqpacket_for(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) return -ENAMETOOLONG;
    strcpy(address->sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int skiff_netns_keeper_listen(const char *path) {
    struct sockaddr_un address;
    int fd = seqpacket_for(path, &address);
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

pid_t skiff_netns_keeper_start(const char *relay, char *const argv[], int listener, int userns) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    /* The monitor is a subreaper: not for this moment, so the keeper goes to init at once. */
    int subreaper = 0;
    (void)prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
    if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    pid_t middle = fork();
    if (middle < 0) {
        int err = errno;
        close(report[0]);
        close(report[1]);
        if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        return -err;
    }
    if (middle == 0) {
        close(report[0]);
        pid_t keeper = fork();
        if (keeper == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            setsid();
            /* 3 and 4 may be taken by the descriptors themselves: move them out of the way. */
            int l = fcntl(listener, F_DUPFD_CLOEXEC, 10);
            int u = userns >= 0 ? fcntl(userns, F_DUPFD_CLOEXEC, 10) : -1;
            if (l < 0 || dup2(l, 3) != 3) _exit(127);
            if (u >= 0 && dup2(u, 4) != 4) _exit(127);
            execv(relay, argv);
            _exit(127);
        }
        int value = keeper > 0 ? (int)keeper : -errno;
        (void)!write(report[1], &value, sizeof value);
        _exit(0);
    }
    close(report[1]);
    int value = -EPIPE;
    ssize_t n = SKIFF_RETRY(read(report[0], &value, sizeof value));
    if (n != (ssize_t)sizeof value) value = -EPIPE;
    close(report[0]);
    int status = 0;
    (void)SKIFF_RETRY(waitpid(middle, &status, 0));
    if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    return value;
}

int skiff_netns_keeper_connect(const char *path, int *userns_fd, int *keeper_pid) {
    struct sockaddr_un address;
    int fd = seqpacket_for(path, &address);
    if (fd < 0) return fd;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    /* The keeper answers at once; five seconds bound a stuck one (a request may make a bridge). */
    struct timeval limit = {5, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    int pid = 0;
    int received = -1;
    ssize_t n = skiff_fd_recv(fd, &pid, sizeof pid, &received);
    if (n != (ssize_t)sizeof pid || received < 0) {
        if (received >= 0) close(received);
        close(fd);
        return n < 0 ? (int)n : -ECONNRESET;
    }
    *userns_fd = received;
    *keeper_pid = pid;
    return fd;
}

int skiff_netns_keeper_request(int connection, const char *request, int netns, char *answer, size_t size) {
    int rc = skiff_fd_send(connection, request, strlen(request), netns);
    if (rc != 0) return rc;
    ssize_t n = SKIFF_RETRY(recv(connection, answer, size - 1, 0));
    if (n < 0) return -errno;
    if (n == 0) return -ECONNRESET;
    answer[n] = 0;
    return 0;
}

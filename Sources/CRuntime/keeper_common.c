/* keeper_common.h: the socket, hello and start both keepers' clients use. */
#define _GNU_SOURCE
#include "keeper_common.h"
#include "fdpass.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* A unix socket of `type` and the address of `path`: its fd, or -errno. */
static int socket_for(const char *path, int type, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) return -ENAMETOOLONG;
    strcpy(address->sun_path, path);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

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

int skiff_keeper_bind(const char *path, int type) {
    struct sockaddr_un address;
    int fd = socket_for(path, type, &address);
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

int skiff_keeper_hello(const char *path, int type, int seconds, int short_hello, int *keeper_pid, int *received) {
    struct sockaddr_un address;
    int fd = socket_for(path, type, &address);
    if (fd < 0) return fd;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    /* A keeper answers at once: the limit bounds a stuck one. */
    struct timeval limit = {seconds, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    int pid = 0;
    int descriptor = -1;
    ssize_t n = skiff_fd_recv(fd, &pid, sizeof pid, &descriptor);
    if (n != (ssize_t)sizeof pid || descriptor < 0) {
        if (descriptor >= 0) close(descriptor);
        close(fd);
        return n < 0 ? (int)n : -short_hello;
    }
    *keeper_pid = pid;
    *received = descriptor;
    return fd;
}

pid_t skiff_keeper_spawn(const char *relay, char *const argv[], int listener, int extra, int clone_flags, const int *go) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    /* A subreaper (the monitor is one) would adopt the keeper when the middle process exits:
     * not one for that moment, so the keeper goes to init (or the user's manager) at once. */
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
        /* The middle process: makes the keeper and exits, so the keeper is init's. */
        close(report[0]);
        if (go) close(go[1]);   /* the caller's end: its close (or death) is the keeper's EOF */
        long keeper = syscall(SYS_clone, (unsigned long)clone_flags | SIGCHLD, 0, 0, 0, 0);
        if (keeper == 0) {
            char byte = 0;
            if (go && (read_full(go[0], &byte, 1) != 0 || byte != 'g')) _exit(1);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            setsid();
            /* 3 and 4 may be taken by the descriptors themselves: moved out of the way first. */
            int l = fcntl(listener, F_DUPFD_CLOEXEC, 10);
            int e = extra >= 0 ? fcntl(extra, F_DUPFD_CLOEXEC, 10) : -1;
            if (l < 0 || dup2(l, 3) != 3) _exit(127);
            if (extra >= 0 && (e < 0 || dup2(e, 4) != 4)) _exit(127);
            execv(relay, argv);
            _exit(127);
        }
        int value = keeper > 0 ? (int)keeper : -errno;
        (void)!write(report[1], &value, sizeof value);
        _exit(0);
    }
    close(report[1]);
    int value = -EPIPE;
    if (read_full(report[0], &value, sizeof value) != 0) value = -EPIPE;
    close(report[0]);
    int status = 0;
    (void)SKIFF_RETRY(waitpid(middle, &status, 0));
    if (subreaper) (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    return value > 0 ? (pid_t)value : (value < 0 ? value : -ECHILD);
}

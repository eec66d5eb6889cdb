/* The rootless user namespace keeper's start (Runtime's SharedUserNamespace): a process in a new
 * user namespace, nobody's child but init's, that waits to be mapped and then execs
 * `skiff-relay --keep-userns`. */
#define _GNU_SOURCE
#include "cruntime.h"
#include "keeper_common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

pid_t skiff_keeper_start(const char *relay, char *const argv[], int listener, int *go_fd) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) return -errno;
    pid_t keeper = skiff_keeper_spawn(relay, argv, listener, -1, CLONE_NEWUSER, go);
    close(go[0]);
    if (keeper < 0) {
        close(go[1]);
        return keeper;
    }
    *go_fd = go[1];
    return keeper;
}

int skiff_keeper_connect(const char *path, int *namespace_fd, int *keeper_pid) {
    int fd = skiff_keeper_hello(path, SOCK_STREAM, 1, EPROTO, keeper_pid, namespace_fd);
    if (fd < 0) return fd;
    close(fd);
    return 0;
}

int skiff_keeper_listen(const char *path) {
    return skiff_keeper_bind(path, SOCK_STREAM);
}

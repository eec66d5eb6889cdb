/* The monitor's side of the per-user network namespace keeper (cnetkeeper.h). */
#define _GNU_SOURCE
#include "cnetkeeper.h"
#include "keeper_common.h"
#include "fdpass.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int skiff_netns_keeper_listen(const char *path) {
    return skiff_keeper_bind(path, SOCK_SEQPACKET);
}

pid_t skiff_netns_keeper_start(const char *relay, char *const argv[], int listener, int userns) {
    return skiff_keeper_spawn(relay, argv, listener, userns, 0, NULL);
}

int skiff_netns_keeper_connect(const char *path, int *userns_fd, int *keeper_pid) {
    /* Five seconds: a request may make a bridge. */
    return skiff_keeper_hello(path, SOCK_SEQPACKET, 5, ECONNRESET, keeper_pid, userns_fd);
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

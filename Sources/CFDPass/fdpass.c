/* See include/fdpass.h. */
#define _GNU_SOURCE
#include "fdpass.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int skiff_fd_send(int socket_fd, const void *data, size_t count, int fd) {
    struct iovec iov = {(void *)data, count};
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t n = SKIFF_RETRY(sendmsg(socket_fd, &message, MSG_NOSIGNAL));
    if (n < 0) return -errno;
    return n == (ssize_t)count ? 0 : -EPROTO;
}

ssize_t skiff_fd_recv(int socket_fd, void *data, size_t count, int *fd) {
    struct iovec iov = {data, count};
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    if (fd) *fd = -1;
    ssize_t n = SKIFF_RETRY(recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC));
    if (n < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(sizeof(int))) continue;
        int received;
        memcpy(&received, CMSG_DATA(c), sizeof(int));
        if (fd && *fd < 0) {
            *fd = received;
        } else {
            close(received);
        }
    }
    return n;
}

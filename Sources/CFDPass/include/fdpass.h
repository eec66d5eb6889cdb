/* Passing a descriptor over a unix socket (SCM_RIGHTS), for every process that does: the runtime
 * (the console master to its parent, the user namespace from its keeper) and skiff-relay (the
 * keeper's end). No dependencies: skiff-relay is a static executable. */
#ifndef SKIFF_FDPASS_H
#define SKIFF_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Sends `count` bytes of `data` with the descriptor `fd` attached (EINTR retried, no SIGPIPE).
 * 0 when all was sent, else -errno (-EPROTO for a short send). */
int skiff_fd_send(int socket_fd, const void *data, size_t count, int fd);

/* Receives one message of up to `count` bytes into `data` (EINTR retried), and the descriptor
 * attached to it, close-on-exec, into *fd (-1 when none came). With fd NULL an attached
 * descriptor is closed. Returns the bytes received (0: the peer closed), or -errno. */
ssize_t skiff_fd_recv(int socket_fd, void *data, size_t count, int *fd);

#endif

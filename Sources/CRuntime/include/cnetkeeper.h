#ifndef SKIFF_CNETKEEPER_H
#define SKIFF_CNETKEEPER_H
/*
 * The monitor's side of the per-user network namespace keeper (`skiff-relay --keep-netns`,
 * skiff-relay's netns.c): its listening socket, its start (nobody's child but init's), the
 * connection that hands over its user namespace, and one request with a container's network
 * namespace attached. Each returns -errno on failure.
 */
#include <stddef.h>
#include <sys/types.h>

/* A SOCK_SEQPACKET socket listening at `path` (mode 0600): its fd. */
int skiff_netns_keeper_listen(const char *path);

/* Starts `relay` with `argv`, fd 3 `listener` and fd 4 `userns` (when >= 0), in a session of its
 * own, reparented to init at once (not to a subreaper): its pid. */
pid_t skiff_netns_keeper_start(const char *relay, char *const argv[], int listener, int userns);

/* Connects to the keeper at `path`: the connection's fd, with the keeper's pid and a descriptor
 * of its user namespace. */
int skiff_netns_keeper_connect(const char *path, int *userns_fd, int *keeper_pid);

/* Sends `request` with `netns` attached and reads the answer into `answer` (NUL-terminated):
 * 0 when the answer came. */
int skiff_netns_keeper_request(int connection, const char *request, int netns, char *answer, size_t size);

#endif

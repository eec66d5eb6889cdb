/* netns_uplink.c: the network namespace keeper's uplink (docs/networking.md, "The uplink of
 * user-defined networks"): slirp4netns attached to the keeper's namespace, forwarding with
 * masquerade and isolation by nftables, and the ports containers publish. */
#ifndef SKIFF_NETNS_UPLINK_H
#define SKIFF_NETNS_UPLINK_H

#include <poll.h>
#include <stddef.h>

/* Before the keeper joins the containers' user namespace: forks the uplink's process (argv, from
 * the keeper's command line after USERNS-FD; none: no uplink), which waits in the host's
 * namespaces for the keeper's. 0, or -1 with a message on stderr. */
int uplink_prepare(int argc, char **argv, const char *socket_path);
/* After the keeper's namespace exists: hands it (and `userns`, -1: none) to the uplink's process,
 * waits for its interface, installs the rules, turns IPv4 forwarding on. Without an uplink,
 * forwarding off. 0, or -1 with a message on stderr. */
int uplink_start(int netns, int userns);
/* A bridge just made: its containers reach out unless `internal`. 0 or -1 (`error` filled). */
int uplink_bridge_added(const char *bridge, int internal, char *error, size_t size);
/* `publish PROTO HOSTIP HOSTPORT ADDRESS PORT` with the container's pidfd: answered on
 * `connection`; the forward lasts until that process ends. */
int uplink_publish(int connection, int pidfd, const char *arguments);
/* The descriptors the keeper polls for the uplink (one per forward); the forwards whose process
 * has ended removed. */
int uplink_poll_fill(struct pollfd *fds, int room);
void uplink_poll_handle(const struct pollfd *fds, int count);
/* The keeper ends: the uplink's process told to end and reaped (1 s at most). */
void uplink_end(void);

#endif

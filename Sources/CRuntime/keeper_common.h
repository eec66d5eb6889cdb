/* What the two keepers' clients share (keeper.c: the user namespace keeper; netkeeper.c: the
 * network namespace keeper): the socket, the hello every connection gets, and the start of a
 * keeper as init's child. */
#ifndef SKIFF_KEEPER_COMMON_H
#define SKIFF_KEEPER_COMMON_H

#include <sys/types.h>

/* Binds `path` (0600, replacing what is there) as a listening unix socket of `type`: its fd, or
 * -errno. */
int skiff_keeper_bind(const char *path, int type);

/* Connects to the keeper at `path` (a unix socket of `type`) and receives its hello: its pid (4
 * bytes) and a descriptor. Returns the connection (receives time out after `seconds`), or -errno
 * (`short_hello` when the hello is not all there). */
int skiff_keeper_hello(const char *path, int type, int seconds, int short_hello, int *keeper_pid, int *received);

/* Starts `relay argv` as a keeper, init's child (a middle process makes it and exits, with this
 * process not a subreaper meanwhile), in a session of its own with no signal blocked, `listener`
 * as its fd 3 and `extra` (when >= 0) as its fd 4. `clone_flags` (CLONE_NEWUSER or 0) are its
 * namespaces; with `go` (a pipe, the caller writes to go[1]) it execs only once it reads 'g'
 * from go[0]. Returns its pid or -errno. */
pid_t skiff_keeper_spawn(const char *relay, char *const argv[], int listener, int extra, int clone_flags, const int *go);

#endif

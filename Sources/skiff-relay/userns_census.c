/*
 * Whether a process other than this one is in a user namespace (the shared user namespace
 * keeper's, keeper.c): the keeper does not end on idle while a container, or the network
 * namespace keeper, is in its namespace, so that every rootless container with the default id
 * maps is in one user namespace with the network keeper, and `docker network connect` of a
 * running container can move an interface into it (docs/networking.md, "Connect and
 * disconnect").
 *
 * A look at /proc/PID/ns/user of every process: the keeper is root of its namespace, so it may
 * look at the processes in it (the others it may not look at are not in it). Run only when the
 * idle time has passed, once per idle period while containers run.
 */
#define _GNU_SOURCE
#include "relay.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int userns_in_use(int namespace_fd) {
    struct stat own;
    if (fstat(namespace_fd, &own) != 0) return 0;
    DIR *proc = opendir("/proc");
    if (proc == NULL) return 1;   /* cannot tell: keep the namespace */
    pid_t me = getpid();
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir(proc)) != NULL) {
        if (!isdigit((unsigned char)entry->d_name[0])) continue;
        char path[64];
        (void)snprintf(path, sizeof path, "/proc/%s/ns/user", entry->d_name);
        struct stat other;
        if (atoi(entry->d_name) == me || stat(path, &other) != 0) continue;
        found = other.st_ino == own.st_ino && other.st_dev == own.st_dev;
    }
    (void)closedir(proc);
    return found;
}

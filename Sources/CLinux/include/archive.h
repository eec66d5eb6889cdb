#ifndef SKIFF_ARCHIVE_H
#define SKIFF_ARCHIVE_H

/* Calls the image worker's container-archive verbs need that Swift's Glibc does not export
 * (statx's mount id, unshare of a mount namespace). */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

/* splice(2) from a pipe `in` into `out` at its file position (a _GNU_SOURCE declaration, so
 * the raw system call): up to `count` bytes moved in the kernel, no copy through user memory. */
static inline ssize_t skiff_splice_from_pipe(int in, int out, size_t count) {
    return syscall(SYS_splice, in, (void *)0, out, (void *)0, count, 1u /* SPLICE_F_MOVE */);
}

/* O_PATH (a _GNU_SOURCE name Swift's Glibc does not export). */
static const int SKIFF_O_PATH_FLAG = 010000000;

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef AT_NO_AUTOMOUNT
#define AT_NO_AUTOMOUNT 0x800
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

/* The id of the mount `name` (relative to dirfd, never followed; "" with AT_EMPTY_PATH for
 * dirfd itself) is on. 0 and the id in *id, or -1 with errno. */
static inline int skiff_mount_id(int dirfd, const char *name, uint64_t *id) {
    /* struct statx (256 bytes): stx_mask is the first u32, stx_mnt_id the u64 at byte 144.
     * Raw, so this header does not depend on which libc headers declared struct statx. */
    uint64_t buffer[32];
    memset(buffer, 0, sizeof buffer);
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] == 0 ? AT_EMPTY_PATH : 0);
    if (syscall(SYS_statx, dirfd, name, flags, STATX_MNT_ID, buffer) != 0)
        return -1;
    uint32_t mask;
    memcpy(&mask, buffer, sizeof mask);
    if (!(mask & STATX_MNT_ID)) {
        errno = ENOSYS;
        return -1;
    }
    *id = buffer[144 / 8];
    return 0;
}

/* A private mount namespace for this (single-threaded) process: unshare(CLONE_NEWNS), then
 * every mount made private so nothing this process mounts reaches another namespace.
 * 0, or -1 with errno. */
static inline int skiff_private_mount_namespace(void) {
    if (syscall(SYS_unshare, 0x00020000 /* CLONE_NEWNS */) != 0)
        return -1;
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/* mount(2) of an overlay with `data` on `target`. 0, or -1 with errno. */
static inline int skiff_mount_overlay(const char *target, const char *data) {
    return mount("overlay", target, "overlay", 0, data);
}

/* A recursive bind mount of `source` on the directory or file open at `target_fd` (an O_PATH
 * descriptor of a path resolved inside a container's root, so no symlink is followed after the
 * resolution). 0, or -1 with errno. */
static inline int skiff_bind_mount_at(const char *source, int target_fd) {
    char target[64];
    snprintf(target, sizeof target, "/proc/self/fd/%d", target_fd);
    return mount(source, target, NULL, MS_BIND | MS_REC, NULL);
}

/* Makes the bind mount open at `target_fd` (the new mount's root, opened after the mount)
 * read-only. 0, or -1 with errno. */
static inline int skiff_remount_readonly_at(int target_fd) {
    char target[64];
    snprintf(target, sizeof target, "/proc/self/fd/%d", target_fd);
    return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
}

/* major(3) and minor(3) are macros Swift cannot import. */
static inline unsigned int skiff_major(unsigned long device) { return major(device); }
static inline unsigned int skiff_minor(unsigned long device) { return minor(device); }

#endif

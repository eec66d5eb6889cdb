/*
 * The container's first process, from clone() to execve(). See include/cruntime.h.
 *
 * Rules for this file: no malloc (another thread of the parent may have held the allocator's
 * lock at clone time), no stdio, identity changes through raw syscalls, every failure reported
 * to the parent as a step, an errno and the object it concerned.
 */
#define _GNU_SOURCE
#include "cruntime.h"
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <net/if.h>
#include <unistd.h>

/* clone3's arguments up to `cgroup` (linux/sched.h's struct clone_args, CLONE_ARGS_SIZE_VER2:
 * Linux 5.7), spelled here so that the kernel's header and glibc's <sched.h> do not clash. */
struct skiff_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define SKIFF_CLONE_INTO_CGROUP 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

/* ---- reporting ------------------------------------------------------------------------- */

static int sync_fd = -1;

static void send_error(int step, int err, int index, const char *detail) {
    struct skiff_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = SKIFF_MSG_ERROR;
    msg.step = step;
    msg.err = err;
    msg.index = index;
    if (detail) {
        strncpy(msg.detail, detail, sizeof msg.detail - 1);
    }
    (void)skiff_msg_send(sync_fd, &msg);
}

/* Reports and ends the child. Exit 127 like a shell that could not run the command. */
static void __attribute__((noreturn)) fail(int step, int err, int index, const char *detail) {
    send_error(step, err, index, detail);
    _exit(127);
}

#define CHECK(expr, step, index, detail)                      \
    do {                                                      \
        if ((expr) < 0) fail((step), errno, (index), (detail)); \
    } while (0)

/* ---- paths inside the new root (before pivot_root) -------------------------------------- */

static int rootfd = -1;

/* Opens `path` (absolute, inside the container) relative to the root without leaving it:
 * symlinks resolve inside the root; with `no_symlinks` any symlink is refused (ELOOP). */
static int open_in_root(const char *path, int flags, mode_t mode, int no_symlinks) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    if (no_symlinks) how.resolve |= RESOLVE_NO_SYMLINKS;
    while (*path == '/') path++;
    if (*path == 0) path = ".";
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    return fd;
}

/* mkdir -p inside the root; the last component is a directory or (is_dir == 0) an empty file.
 * Returns an O_PATH descriptor of it. */
static int make_in_root(const char *path, int is_dir, int no_symlinks) {
    char partial[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof partial) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(partial, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (partial[i] != '/' && partial[i] != 0) continue;
        int last = partial[i] == 0;
        char saved = partial[i];
        partial[i] = 0;
        int fd = open_in_root(partial, O_PATH, 0, no_symlinks);
        if (fd < 0 && errno == ENOENT) {
            /* Create it in its parent (resolved inside the root too). */
            char *slash = strrchr(partial, '/');
            const char *name = slash ? slash + 1 : partial;
            int parent;
            if (slash && slash != partial) {
                *slash = 0;
                parent = open_in_root(partial, O_PATH | O_DIRECTORY, 0, no_symlinks);
                *slash = '/';
            } else {
                parent = open_in_root("/", O_PATH | O_DIRECTORY, 0, no_symlinks);
            }
            if (parent < 0) return -1;
            int rc;
            if (!last || is_dir) {
                rc = mkdirat(parent, name, 0755);
            } else {
                rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (rc >= 0) close(rc);
            }
            close(parent);
            if (rc < 0 && errno != EEXIST) return -1;
            fd = open_in_root(partial, O_PATH, 0, no_symlinks);
        }
        if (fd < 0) return -1;
        partial[i] = saved;
        if (last) return fd;
        close(fd);
    }
    errno = EINVAL;
    return -1;
}

static void fd_path(char *buf, size_t size, int fd) {
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Flags a bind-mount remount in a user namespace must keep (the kernel locks them). */
static unsigned long locked_flags(const char *path) {
    struct statvfs st;
    if (statvfs(path, &st) < 0) return 0;
    unsigned long flags = 0;
    if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
    if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

static int is_path_under(const char *path, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* Files under /proc an lxcfs-style bind may replace (runc's checkProcMount list). */
static int is_replaceable_proc_file(const char *path) {
    static const char *const files[] = {
        "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
        "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(path, files[i]) == 0) return 1;
    }
    return 0;
}

/* A symlink made by the mount list (cgroup v1: "cpu" -> "cpu,cpuacct"), in its parent resolved
 * inside the root. */
static void make_symlink(const struct skiff_mount *m, int index, int guarded) {
    char parent_path[PATH_MAX];
    const char *slash = strrchr(m->destination, '/');
    if (!slash || slash[1] == 0 || (size_t)(slash - m->destination) >= sizeof parent_path) {
        fail(SKIFF_STEP_MOUNT, EINVAL, index, m->destination);
    }
    size_t n = slash == m->destination ? 1 : (size_t)(slash - m->destination);
    memcpy(parent_path, m->destination, n);
    parent_path[n] = 0;
    int parent = open_in_root(parent_path, O_PATH | O_DIRECTORY, 0, guarded);
    if (parent < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
    if (symlinkat(m->source, parent, slash + 1) < 0 && errno != EEXIST) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
    close(parent);
}

static void do_mount(const struct skiff_mount *m, int index) {
    char target[64];
    /* /proc and /sys must be real directories of the rootfs: a symlink there could redirect
     * the kernel interfaces (CVE-2019-19921 and friends). Only procfs goes on /proc. */
    int guarded = is_path_under(m->destination, "/proc") || is_path_under(m->destination, "/sys");
    if (strcmp(m->destination, "/proc") == 0 && (m->kind != SKIFF_MOUNT_FS || strcmp(m->fstype, "proc") != 0)) {
        fail(SKIFF_STEP_MOUNT, EINVAL, index, m->destination);
    }
    if (m->kind == SKIFF_MOUNT_SYMLINK) {
        make_symlink(m, index, guarded);
        return;
    }
    if (m->kind == SKIFF_MOUNT_REMOUNT) {
        int rfd = open_in_root(m->destination, O_PATH, 0, guarded);
        if (rfd < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
        fd_path(target, sizeof target, rfd);
        CHECK(mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | m->flags | locked_flags(target), NULL),
              SKIFF_STEP_MOUNT, index, m->destination);
        close(rfd);
        return;
    }
    int is_dir = m->kind == SKIFF_MOUNT_BIND ? m->source_is_dir : 1;
    int fd = make_in_root(m->destination, is_dir, guarded);
    if (fd < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
    fd_path(target, sizeof target, fd);
    /* runc's checkProcMount on the resolved target: nothing but procfs (and the lxcfs files)
     * goes over procfs, wherever the path led. */
    if (!(m->kind == SKIFF_MOUNT_FS && strcmp(m->fstype, "proc") == 0) && !is_replaceable_proc_file(m->destination)) {
        struct statfs fs;
        if (fstatfs(fd, &fs) == 0 && fs.f_type == 0x9fa0 /* PROC_SUPER_MAGIC */) {
            fail(SKIFF_STEP_MOUNT_IN_PROC, EPERM, index, m->destination);
        }
    }

    if (m->kind == SKIFF_MOUNT_BIND) {
        unsigned long flags = MS_BIND | (m->recursive ? MS_REC : 0);
        CHECK(mount(m->source, target, NULL, flags, NULL), SKIFF_STEP_MOUNT, index, m->destination);
        close(fd);
        unsigned long wanted = m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
                                           MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW);
        if (wanted) {
            fd = open_in_root(m->destination, O_PATH, 0, guarded);
            if (fd < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
            fd_path(target, sizeof target, fd);
            unsigned long flags2 = MS_BIND | MS_REMOUNT | wanted | locked_flags(target);
            CHECK(mount(NULL, target, NULL, flags2, NULL), SKIFF_STEP_MOUNT, index, m->destination);
        }
    } else {
        int rc = mount(m->source, target, m->fstype, m->flags, m->data);
        if (rc < 0 && errno == EPERM && strcmp(m->fstype, "sysfs") == 0) {
            /* No network namespace of our own (or not its owner): bind the host's, read-only. */
            rc = mount("/sys", target, NULL, MS_BIND | MS_REC, NULL);
            if (rc == 0) {
                close(fd);
                fd = open_in_root(m->destination, O_PATH, 0, guarded);
                if (fd < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
                fd_path(target, sizeof target, fd);
                rc = mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
                           MS_NOEXEC | locked_flags(target), NULL);
            }
        } else if (rc < 0 && errno == EPERM && strcmp(m->fstype, "mqueue") == 0) {
            /* No IPC namespace of our own: bind the host's message queues. */
            rc = mount("/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL);
        } else if (rc < 0 && (errno == EPERM || errno == EBUSY) && m->fallback_source) {
            /* A cgroup file system we may not mount (no cgroup namespace, or not its owner):
             * bind the cgroup directory it would show, with the mount's flags. */
            rc = mount(m->fallback_source, target, NULL, MS_BIND | MS_REC, NULL);
            unsigned long wanted = m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
                                               MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME);
            if (rc == 0 && wanted) {
                close(fd);
                fd = open_in_root(m->destination, O_PATH, 0, guarded);
                if (fd < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
                fd_path(target, sizeof target, fd);
                rc = mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | wanted | locked_flags(target), NULL);
            }
        }
        if (rc < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
    }
    if (m->propagation) {
        close(fd);
        fd = open_in_root(m->destination, O_PATH, 0, guarded);
        if (fd < 0) fail(SKIFF_STEP_MOUNT, errno, index, m->destination);
        fd_path(target, sizeof target, fd);
        CHECK(mount(NULL, target, NULL, m->propagation, NULL), SKIFF_STEP_MOUNT, index, m->destination);
    }
    close(fd);
}

/* /dev on a tmpfs: the usual devices and links. In a user namespace mknod is not allowed, so
 * the host's device nodes are bind-mounted instead (as crun and runc do rootless). */
static void make_devices(const struct skiff_child_config *c) {
    static const struct { const char *name; unsigned maj, min; } devices[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    char path[64], host[64], target[64];
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        snprintf(path, sizeof path, "/dev/%s", devices[i].name);
        if (c->bind_devices) {
            int fd = make_in_root(path, 0, 1);
            if (fd < 0) fail(SKIFF_STEP_DEVICES, errno, (int)i, path);
            fd_path(target, sizeof target, fd);
            snprintf(host, sizeof host, "/dev/%s", devices[i].name);
            CHECK(mount(host, target, NULL, MS_BIND, NULL), SKIFF_STEP_DEVICES, (int)i, path);
            close(fd);
        } else {
            int dev = open_in_root("/dev", O_PATH | O_DIRECTORY, 0, 1);
            if (dev < 0) fail(SKIFF_STEP_DEVICES, errno, (int)i, "/dev");
            int rc = mknodat(dev, devices[i].name, S_IFCHR | 0666, makedev(devices[i].maj, devices[i].min));
            if (rc < 0 && errno != EEXIST) fail(SKIFF_STEP_DEVICES, errno, (int)i, path);
            /* mknod honours the umask: set the mode explicitly. */
            char p2[64];
            int nfd = openat(dev, devices[i].name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
            if (nfd >= 0) {
                fd_path(p2, sizeof p2, nfd);
                (void)chmod(p2, 0666);
                close(nfd);
            }
            close(dev);
        }
    }
    static const struct { const char *name, *target; } links[] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"}, {"ptmx", "pts/ptmx"},
    };
    int dev = open_in_root("/dev", O_PATH | O_DIRECTORY, 0, 1);
    if (dev < 0) fail(SKIFF_STEP_DEVICES, errno, -1, "/dev");
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (symlinkat(links[i].target, dev, links[i].name) < 0 && errno != EEXIST) {
            snprintf(path, sizeof path, "/dev/%s", links[i].name);
            fail(SKIFF_STEP_DEVICES, errno, -1, path);
        }
    }
    close(dev);
}

static int has_dev_mount(const struct skiff_child_config *c) {
    for (int i = 0; i < c->n_mounts; i++) {
        if (strcmp(c->mounts[i].destination, "/dev") == 0) return 1;
    }
    return 0;
}

/* mkdir -p inside the container's root (after pivot_root), 0755, owned by the container's
 * root: what Docker does for a WORKDIR the image lacks. Errors other than EEXIST fail the step. */
static void make_directories(const char *path) {
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) fail(SKIFF_STEP_CWD, ENAMETOOLONG, -1, path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) fail(SKIFF_STEP_CWD, errno, -1, buf);
            *p = saved;
            if (saved == '\0') break;
        }
    }
}

static void write_file(const char *path, const char *text, int step, int index);

/* The spec's sysctls, written to the container's own /proc/sys. */
static void write_sysctls(const struct skiff_child_config *c) {
    for (int i = 0; i < c->n_sysctls; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/proc/sys/%s", c->sysctl_keys[i]);
        write_file(path, c->sysctl_values[i], SKIFF_STEP_SYSCTL, i);
    }
}

static void setup_rootfs(const struct skiff_child_config *c) {
    unsigned long propagation = c->rootfs_propagation ? c->rootfs_propagation : (MS_REC | MS_PRIVATE);
    CHECK(mount(NULL, "/", NULL, propagation, NULL), SKIFF_STEP_MOUNT_PRIVATE, -1, "/");
    if (c->rootfs_fstype) {
        CHECK(mount(c->rootfs_fstype, c->rootfs, c->rootfs_fstype, 0, c->rootfs_data),
              SKIFF_STEP_ROOTFS_MOUNT, -1, c->rootfs);
    }
    /* pivot_root needs the new root to be a mount point. */
    CHECK(mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL), SKIFF_STEP_ROOTFS_BIND, -1, c->rootfs);
    rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) fail(SKIFF_STEP_ROOTFS_BIND, errno, -1, c->rootfs);

    for (int i = 0; i < c->n_mounts; i++) {
        do_mount(&c->mounts[i], i);
        if (strcmp(c->mounts[i].destination, "/dev") == 0 && has_dev_mount(c)) {
            make_devices(c);
        }
    }

    CHECK(fchdir(rootfd), SKIFF_STEP_PIVOT_ROOT, -1, c->rootfs);
    CHECK(syscall(SYS_pivot_root, ".", "."), SKIFF_STEP_PIVOT_ROOT, -1, c->rootfs);
    /* The old root is stacked under the new one: make it private, then detach it. */
    CHECK(mount(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL), SKIFF_STEP_PIVOT_ROOT, -1, "old root");
    CHECK(umount2(".", MNT_DETACH), SKIFF_STEP_PIVOT_ROOT, -1, "old root");
    CHECK(chdir("/"), SKIFF_STEP_PIVOT_ROOT, -1, "/");
    close(rootfd);
    rootfd = -1;

    /* Before /proc/sys becomes read-only (a readonly path). */
    write_sysctls(c);
    for (int i = 0; i < c->n_masked_paths; i++) {
        const char *p = c->masked_paths[i];
        struct stat st;
        if (stat(p, &st) < 0) {
            if (errno == ENOENT) continue;
            fail(SKIFF_STEP_MASK, errno, i, p);
        }
        if (S_ISDIR(st.st_mode)) {
            CHECK(mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k"),
                  SKIFF_STEP_MASK, i, p);
        } else {
            CHECK(mount("/dev/null", p, NULL, MS_BIND, NULL), SKIFF_STEP_MASK, i, p);
        }
    }
    for (int i = 0; i < c->n_readonly_paths; i++) {
        const char *p = c->readonly_paths[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT) continue;
            fail(SKIFF_STEP_READONLY_PATH, errno, i, p);
        }
        CHECK(mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(p), NULL),
              SKIFF_STEP_READONLY_PATH, i, p);
    }
    if (c->rootfs_readonly) {
        CHECK(mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL),
              SKIFF_STEP_ROOTFS_READONLY, -1, "/");
    }
}

/* ---- the rest of the process set-up ------------------------------------------------------ */

static void write_file(const char *path, const char *text, int step, int index) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(step, errno, index, path);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) fail(step, errno, index, path);
    close(fd);
}

static void set_identity(const struct skiff_child_config *c) {
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), SKIFF_STEP_CAPS, -1, "keepcaps");
    for (int cap = 0; cap <= c->last_cap; cap++) {
        if (c->cap_bounding & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
            fail(SKIFF_STEP_CAPS_BOUNDING, errno, cap, "bounding set");
        }
    }
    if (c->n_groups > 0) {
        gid_t groups[64];
        int n = c->n_groups < 64 ? c->n_groups : 64;
        for (int i = 0; i < n; i++) groups[i] = c->groups[i];
        CHECK(syscall(SYS_setgroups, n, groups), SKIFF_STEP_GROUPS, -1, "setgroups");
    } else if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) {
        /* EPERM: a user namespace with setgroups denied (single-id map): nothing to drop. */
        fail(SKIFF_STEP_GROUPS, errno, -1, "setgroups");
    }
    CHECK(syscall(SYS_setresgid, c->gid, c->gid, c->gid), SKIFF_STEP_SETGID, (int)c->gid, "setresgid");
    CHECK(syscall(SYS_setresuid, c->uid, c->uid, c->uid), SKIFF_STEP_SETUID, (int)c->uid, "setresuid");

    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = (uint32_t)c->cap_effective;
    data[1].effective = (uint32_t)(c->cap_effective >> 32);
    data[0].permitted = (uint32_t)c->cap_permitted;
    data[1].permitted = (uint32_t)(c->cap_permitted >> 32);
    data[0].inheritable = (uint32_t)c->cap_inheritable;
    data[1].inheritable = (uint32_t)(c->cap_inheritable >> 32);
    CHECK(syscall(SYS_capset, &header, data), SKIFF_STEP_CAPS, -1, "capset");
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), SKIFF_STEP_CAPS_AMBIENT, -1, "clear");
    for (int cap = 0; cap <= c->last_cap; cap++) {
        if (!(c->cap_ambient & (1ULL << cap))) continue;
        CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), SKIFF_STEP_CAPS_AMBIENT, cap, "raise");
    }
    CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), SKIFF_STEP_CAPS, -1, "keepcaps");
}

/* Finds argv[0] in PATH (from the container's environment) the way execvp would, so that a
 * missing command is reported before `start` (Docker: exit 127 "executable file not found"). */
static const char *find_executable(const struct skiff_child_config *c, char *buf, size_t size) {
    const char *name = c->argv[0];
    if (strchr(name, '/')) {
        if (access(name, X_OK) < 0) fail(SKIFF_STEP_EXEC, errno, -1, name);
        struct stat st;
        if (stat(name, &st) == 0 && S_ISDIR(st.st_mode)) fail(SKIFF_STEP_EXEC, EACCES, -1, name);
        return name;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (int i = 0; c->envp[i]; i++) {
        if (strncmp(c->envp[i], "PATH=", 5) == 0) {
            path = c->envp[i] + 5;
            break;
        }
    }
    int denied = 0;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len == 0) {
            snprintf(buf, size, "./%s", name);
        } else {
            snprintf(buf, size, "%.*s/%s", (int)len, path, name);
        }
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(buf, X_OK) == 0) return buf;
            denied = 1;
        }
        path += len;
        if (*path == ':') path++;
    }
    fail(SKIFF_STEP_EXEC, denied ? EACCES : ENOENT, -1, name);
}

/* Closes every descriptor from 3 up except those in keep[]. */
static void close_others(const int *keep, int n) {
    int sorted[8];
    int count = 0;
    for (int i = 0; i < n && count < 8; i++) {
        if (keep[i] >= 3) sorted[count++] = keep[i];
    }
    for (int i = 1; i < count; i++) {
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    }
    unsigned int from = 3;
    for (int i = 0; i < count; i++) {
        if ((unsigned)sorted[i] > from) syscall(SYS_close_range, from, (unsigned)sorted[i] - 1, 0);
        from = (unsigned)sorted[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}

static void make_terminal(const struct skiff_child_config *c) {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) fail(SKIFF_STEP_TERMINAL, errno, -1, "/dev/ptmx");
    int unlock = 0;
    CHECK(ioctl(master, TIOCSPTLCK, &unlock), SKIFF_STEP_TERMINAL, -1, "unlockpt");
    if (c->console_rows > 0 && c->console_columns > 0) {
        /* The size asked for (exec's ConsoleSize) before the process can read it. */
        struct winsize size;
        memset(&size, 0, sizeof size);
        size.ws_row = c->console_rows;
        size.ws_col = c->console_columns;
        CHECK(ioctl(master, TIOCSWINSZ, &size), SKIFF_STEP_TERMINAL, -1, "TIOCSWINSZ");
    }
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0) fail(SKIFF_STEP_TERMINAL, errno, -1, "open pty");
    struct skiff_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = SKIFF_MSG_CONSOLE;
    if (skiff_msg_send(sync_fd, &msg) < 0 || skiff_send_fd(sync_fd, master) < 0) {
        fail(SKIFF_STEP_TERMINAL, errno, -1, "send pty");
    }
    close(master);
    CHECK(setsid(), SKIFF_STEP_TERMINAL, -1, "setsid");
    CHECK(ioctl(slave, TIOCSCTTY, 0), SKIFF_STEP_TERMINAL, -1, "TIOCSCTTY");
    for (int fd = 0; fd < 3; fd++) CHECK(dup2(slave, fd), SKIFF_STEP_TERMINAL, fd, "dup2");
    if (slave > 2) close(slave);
}

static void load_seccomp(const struct skiff_child_config *c) {
    if (!c->seccomp_bpf || c->seccomp_len == 0) return;
    struct sock_fprog prog = {(unsigned short)(c->seccomp_len / sizeof(struct sock_filter)),
                              (struct sock_filter *)c->seccomp_bpf};
    if (!c->seccomp_notify) {
        CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0), SKIFF_STEP_SECCOMP, -1, "");
        return;
    }
    /* The supervisor answers what the filter refuses (the parent passes the listener on). */
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) fail(SKIFF_STEP_SECCOMP, errno, -1, "new listener");
    struct skiff_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = SKIFF_MSG_SECCOMP_LISTENER;
    /* One message, the descriptor with it. */
    int sent = skiff_fd_send(sync_fd, &msg, sizeof msg, (int)listener);
    if (sent < 0 && sent != -EPROTO) fail(SKIFF_STEP_SECCOMP, -sent, -1, "send listener");
    close((int)listener);
}

/* The caller's descriptors as 0, 1 and 2. Copied above 2 first, so that a descriptor already
 * in 0-2 is not overwritten before it is used; dup2 leaves the copies without close-on-exec. */
static void set_stdio(const struct skiff_child_config *c) {
    int copies[3];
    for (int i = 0; i < 3; i++) {
        copies[i] = fcntl(c->stdio_fds[i], F_DUPFD_CLOEXEC, 3);
        if (copies[i] < 0) fail(SKIFF_STEP_STDIO, errno, i, "dup");
    }
    for (int i = 0; i < 3; i++) {
        CHECK(dup2(copies[i], i), SKIFF_STEP_STDIO, i, "dup2");
        close(copies[i]);
    }
}

/* A creator that blocks or ignores signals (a monitor blocks SIGCHLD for its signalfd and
 * ignores SIGPIPE) must not hand that on: both survive execve. */
static void reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        struct sigaction old;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) (void)sigaction(sig, &dfl, NULL);
    }
}

/* A copy of this process with `flags` (CLONE_NEW*), as fork makes it: no CLONE_VM, the child
 * runs on a copy of this stack, so no separate stack is needed. With into_cgroup it is made in
 * the container's cgroup (clone3, CLONE_INTO_CGROUP: the kernel takes no migration lock for
 * writing, which a move through cgroup.procs does) and *placed is 1 in parent and child. Where
 * that fails (clone3 or CLONE_INTO_CGROUP unknown, or filtered by an outer seccomp profile:
 * ENOSYS, EINVAL, E2BIG, EOPNOTSUPP, EPERM; or the cgroup itself refused, whose error the move
 * then reports with its path) a plain clone, *placed 0: the process asks to be moved. */
static long clone_process(unsigned long flags, const struct skiff_child_config *c, int *placed) {
    *placed = 0;
    if (c->into_cgroup) {
        long pid;
        if (c->clone3_test_errno) {
            errno = c->clone3_test_errno;
            pid = -1;
        } else {
            struct skiff_clone_args args;
            memset(&args, 0, sizeof args);
            args.flags = flags | SKIFF_CLONE_INTO_CGROUP;
            args.exit_signal = SIGCHLD;
            args.cgroup = (uint64_t)c->cgroup_fd;
            pid = syscall(SYS_clone3, &args, sizeof args);
        }
        if (pid >= 0) {
            *placed = 1;
            return pid;
        }
    }
    return syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

static void __attribute__((noreturn)) child_main(const struct skiff_child_config *c, int placed) {
    sync_fd = c->sync_fd;
    /* Until the container is created, it dies with its creator. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    reset_signals();
    if (c->set_stdio) set_stdio(c);
    /* While dumpable, /proc/self belongs to us: set the OOM score now (raising it needs no
     * privilege; lowering it needs CAP_SYS_RESOURCE, as anywhere). */
    if (c->set_oom_score_adj) {
        char text[32];
        snprintf(text, sizeof text, "%d", c->oom_score_adj);
        write_file("/proc/self/oom_score_adj", text, SKIFF_STEP_OOM_SCORE, -1);
    }

    int fork_into_pid_namespace = c->join_pid_namespace ||
                                  (c->unshare_after_join && (c->clone_flags & CLONE_NEWPID));
    /* The process forked below is made in the container's cgroup from here: a cgroup namespace
     * joined first would hide that cgroup from us (clone3 checks both ends against our cgroup
     * namespace's root), so the forked process joins it. */
    int defer_cgroupns = fork_into_pid_namespace && c->into_cgroup;
    for (int i = 0; i < c->n_setns; i++) {
        if (defer_cgroupns && c->setns_types[i] == CLONE_NEWCGROUP) continue;
        CHECK(setns(c->setns_fds[i], c->setns_types[i]), SKIFF_STEP_SETNS, i, "setns");
        close(c->setns_fds[i]);
    }
    if (c->unshare_after_join && c->clone_flags) {
        CHECK(unshare(c->clone_flags), SKIFF_STEP_SETNS, -1, "unshare");
    }
    if (fork_into_pid_namespace) {
        /* setns(CLONE_NEWPID) applies to children: the container process is our child, made in
         * the container's cgroup where the kernel allows (the intermediate stays outside). */
        pid_t pid = (pid_t)clone_process(0, c, &placed);
        if (pid < 0) fail(SKIFF_STEP_SETNS, errno, -1, "fork into pid namespace");
        if (pid > 0) {
            if (c->pid_report_delay_us) usleep(c->pid_report_delay_us);
            struct skiff_msg msg;
            memset(&msg, 0, sizeof msg);
            msg.type = SKIFF_MSG_PID;
            msg.index = pid;
            if (skiff_msg_send(sync_fd, &msg) < 0) {
                /* The parent will never know it: it must not live on. */
                kill(pid, SIGKILL);
                _exit(127);
            }
            _exit(0);
        }
        /* No death signal here: our parent (the intermediate) exits at once. If the runtime dies,
         * the socket reaches EOF and this process exits before exec.
         * Nothing is said before the parent has our pid (cruntime.h): the intermediate's
         * SKIFF_MSG_PID and our first message would otherwise race on the shared socket, and a
         * `ready` read first would make the parent take the intermediate for the container. */
        struct skiff_msg recorded;
        if (skiff_msg_recv(sync_fd, &recorded) < 0 || recorded.type != SKIFF_MSG_PID_RECORDED) _exit(127);
        for (int i = 0; defer_cgroupns && i < c->n_setns; i++) {
            if (c->setns_types[i] != CLONE_NEWCGROUP) continue;
            CHECK(setns(c->setns_fds[i], c->setns_types[i]), SKIFF_STEP_SETNS, i, "setns");
            close(c->setns_fds[i]);
        }
    }

    if (c->join_cgroups && !placed) {
        /* This is the container's process (after any fork into a pid namespace): the parent
         * moves it into the container's cgroups before anything else runs here, so set-up and
         * program are limited and charged there, and every later process inherits them. */
        struct skiff_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = SKIFF_MSG_JOIN_CGROUPS;
        if (skiff_msg_send(sync_fd, &msg) < 0) _exit(127);
        if (skiff_msg_recv(sync_fd, &msg) < 0 || msg.type != SKIFF_MSG_CGROUPS_JOINED) _exit(127);
    }

    int keep[4] = {sync_fd, c->start_fifo_fd, -1, -1};
    close_others(keep, 2);

    /* Nothing in the container may ptrace or open /proc/PID/exe of this process while it still
     * runs the runtime's code (CVE-2019-5736); execve resets it for the container's program.
     * With a new user namespace, only after the parent has written the id maps: an
     * unprivileged parent writes them through /proc/PID, which needs the process dumpable. */
    if (!c->wait_for_mapping) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (c->wait_for_mapping) {
        struct skiff_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = SKIFF_MSG_NEED_MAPPING;
        if (skiff_msg_send(sync_fd, &msg) < 0) _exit(127);
        if (skiff_msg_recv(sync_fd, &msg) < 0 || msg.type != SKIFF_MSG_MAPPED) _exit(127);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        /* Become root of the new namespace (our own id maps to 0). */
        CHECK(syscall(SYS_setresgid, 0, 0, 0), SKIFF_STEP_SETUP_IDENTITY, -1, "setresgid 0");
        CHECK(syscall(SYS_setresuid, 0, 0, 0), SKIFF_STEP_SETUP_IDENTITY, -1, "setresuid 0");
    }
    if (c->unshare_cgroupns) {
        /* Now that the process is in its cgroups, a new cgroup namespace has them as its root. */
        CHECK(unshare(CLONE_NEWCGROUP), SKIFF_STEP_CGROUP_NS, -1, "unshare");
    }

    if (c->clone_flags & CLONE_NEWNET) {
        /* A private network namespace starts with loopback down. */
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail(SKIFF_STEP_NETWORK, errno, -1, "lo");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail(SKIFF_STEP_NETWORK, errno, -1, "lo");
        close(s);
        if (c->send_namespaces) {
            /* Interfaces made in this namespace later (slirp4netns's tap0, a user network's eth0)
             * skip IPv6 duplicate address detection, as Podman sets it for slirp4netns: the
             * namespace is private, and DAD holds a SLAAC or static address back for 1-2 s.
             * Nothing waits for IPv6 here; a host without IPv6 has no such file. */
            int dad = open("/proc/sys/net/ipv6/conf/default/accept_dad", O_WRONLY | O_CLOEXEC);
            if (dad >= 0) {
                if (write(dad, "0", 1) < 0) { /* IPv6 then keeps its DAD; nothing else depends on it */ }
                close(dad);
            }
            /* For the network helper (slirp4netns): this process is not dumpable, so nobody else
             * may open its /proc/PID/ns files; it hands them over itself. */
            const char *paths[2] = {"/proc/self/ns/net", "/proc/self/ns/user"};
            for (int i = 0; i < 2; i++) {
                int ns = open(paths[i], O_RDONLY | O_CLOEXEC);
                if (ns < 0) fail(SKIFF_STEP_NETWORK, errno, -1, paths[i]);
                struct skiff_msg msg;
                memset(&msg, 0, sizeof msg);
                msg.type = SKIFF_MSG_NAMESPACE;
                msg.index = i;
                int err = skiff_fd_send(sync_fd, &msg, sizeof msg, ns);
                if (err < 0 && err != -EPROTO) fail(SKIFF_STEP_NETWORK, -err, -1, "send namespace");
                close(ns);
            }
        }
    }

    if (c->rootfs) setup_rootfs(c);

    if (c->hostname) CHECK(sethostname(c->hostname, strlen(c->hostname)), SKIFF_STEP_HOSTNAME, -1, c->hostname);
    if (c->domainname) {
        CHECK(setdomainname(c->domainname, strlen(c->domainname)), SKIFF_STEP_HOSTNAME, -1, c->domainname);
    }
    if (!c->rootfs) write_sysctls(c);
    for (int i = 0; i < c->n_rlimits; i++) {
        struct rlimit limit = {(rlim_t)c->rlimits[i].soft, (rlim_t)c->rlimits[i].hard};
        CHECK(setrlimit(c->rlimits[i].resource, &limit), SKIFF_STEP_RLIMIT, i, "setrlimit");
    }
    if (c->terminal) make_terminal(c);

    /* Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: load it while the process
     * still has every capability (as runc does); with no_new_privs, as late as possible. */
    if (c->create_cwd && c->cwd && c->cwd[0] == '/') make_directories(c->cwd);
    if (!c->no_new_privs) load_seccomp(c);
    set_identity(c);

    /* The working directory must lie inside the container: refuse descriptor paths, and
     * refuse a directory the kernel cannot name from the new root (CVE-2024-21626). */
    const char *cwd = c->cwd ? c->cwd : "/";
    if (cwd[0] != '/' || is_path_under(cwd, "/proc/self/fd") || is_path_under(cwd, "/proc/thread-self/fd")) {
        fail(SKIFF_STEP_CWD, EINVAL, -1, cwd);
    }
    CHECK(chdir(cwd), SKIFF_STEP_CWD, -1, cwd);
    char actual[PATH_MAX];
    if (syscall(SYS_getcwd, actual, sizeof actual) < 0 || actual[0] != '/') {
        fail(SKIFF_STEP_CWD, ENOENT, -1, cwd);
    }

    if (c->no_new_privs) CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), SKIFF_STEP_NO_NEW_PRIVS, -1, "");
    /* A listener goes to the parent before `ready`, while it still reads this socket. */
    if (c->no_new_privs && c->seccomp_notify) load_seccomp(c);
    if (c->selinux_exec_label) {
        write_file("/proc/thread-self/attr/exec", c->selinux_exec_label, SKIFF_STEP_SELINUX, -1);
    }

    char found[PATH_MAX];
    const char *executable = find_executable(c, found, sizeof found);

    /* Created and waiting for `start`: the creator exits as soon as it reads "ready", so the
     * container must stop dying with it before saying so (after would be a race). */
    if (c->start_fifo_fd >= 0) prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    struct skiff_msg ready;
    memset(&ready, 0, sizeof ready);
    ready.type = SKIFF_MSG_READY;
    if (skiff_msg_send(sync_fd, &ready) < 0) _exit(127);

    if (c->start_fifo_fd >= 0) {
        /* Wait for `start`, which opens the fifo for reading. */
        char fifo[64];
        fd_path(fifo, sizeof fifo, c->start_fifo_fd);
        int fd = open(fifo, O_WRONLY | O_CLOEXEC);
        if (fd < 0) fail(SKIFF_STEP_WAIT_START, errno, -1, "exec.fifo");
        if (write(fd, "0", 1) != 1) fail(SKIFF_STEP_WAIT_START, errno, -1, "exec.fifo");
        close(fd);
        close(c->start_fifo_fd);
    }

    /* Only 0, 1 and 2 survive execve. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) fail(SKIFF_STEP_CLOSE_FDS, errno, -1, "");

    if (c->no_new_privs && !c->seccomp_notify) load_seccomp(c);
    execve(executable, (char *const *)c->argv, (char *const *)c->envp);
    fail(SKIFF_STEP_EXEC, errno, -1, executable);
}

pid_t skiff_clone_child(const struct skiff_child_config *config) {
    /* The namespaces come from the flags (or are unshared by the child after joining a user
     * namespace). A child that forks the container's process into a pid namespace is only an
     * intermediate: it is not made in the cgroup, its child is. */
    unsigned long flags = config->unshare_after_join ? 0 : (unsigned long)config->clone_flags;
    int forks = config->join_pid_namespace || (config->unshare_after_join && (config->clone_flags & CLONE_NEWPID));
    int placed = 0;
    long pid = forks ? syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0) : clone_process(flags, config, &placed);
    if (pid < 0) return -errno;
    if (pid == 0) child_main(config, placed);
    return (pid_t)pid;
}

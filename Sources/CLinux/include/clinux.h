#ifndef SKIFF_CLINUX_H
#define SKIFF_CLINUX_H
/* glibc functions Swift's Glibc module does not export. */
#include <malloc.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <sys/sysmacros.h>

/* makedev is a macro Swift cannot import. */
static inline unsigned long skiff_makedev(unsigned int major, unsigned int minor) {
    return makedev(major, minor);
}

/* lgetxattr from <sys/xattr.h>, which Swift's Glibc module does not include (the xattr
 * calls are reachable through this header's include of <sys/xattr.h>). */
static inline ssize_t skiff_lgetxattr(const char *path, const char *name, void *value, size_t size) {
    return lgetxattr(path, name, value, size);
}

static inline int skiff_malloc_trim(void) {
    return malloc_trim(0);
}

/* ---- seccomp: memfd for libseccomp's export, and running a program under a filter ---- */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/memfd.h>
#include <linux/seccomp.h>

/* memfd_create(2); glibc only declares it under _GNU_SOURCE. Returns -1 and sets errno. */
static inline int skiff_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}

/* Forks; the child points stdout and stderr at output_fd (when >= 0), sets no_new_privs,
 * loads the BPF program (an array of struct sock_filter, len bytes) and execs path. Only
 * async-signal-safe calls run between fork and exec, so a multithreaded caller is fine.
 * Returns the child's wait status, or -errno when fork, the filter or the exec failed (the
 * child reports its errno over a close-on-exec pipe). */
static inline int skiff_run_with_seccomp_output(const void *bpf, size_t len, const char *path,
                                                char *const argv[], int output_fd) {
    if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > USHRT_MAX)
        return -EINVAL;
    struct sock_fprog prog = {
        .len = (unsigned short)(len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)bpf,
    };
    int report[2];
    if (syscall(SYS_pipe2, report, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(report[0]);
        close(report[1]);
        return -err;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        close(report[0]);
        if (output_fd >= 0 && (dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0))
            goto fail;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            goto fail;
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            goto fail;
        execv(path, argv);
    fail:;
        int err = errno;
        ssize_t ignored = write(report[1], &err, sizeof err);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(report[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    if (n == (ssize_t)sizeof child_errno)
        return -child_errno;
    return status;
}

static inline int skiff_run_with_seccomp(const void *bpf, size_t len, const char *path, char *const argv[]) {
    return skiff_run_with_seccomp_output(bpf, len, path, argv, -1);
}
#endif

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
#include "skiff_syscall.h"
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
    ssize_t n = SKIFF_RETRY(read(report[0], &child_errno, sizeof child_errno));
    close(report[0]);
    int status = 0;
    if (SKIFF_RETRY(waitpid(pid, &status, 0)) < 0)
        return -errno;
    if (n == (ssize_t)sizeof child_errno)
        return -child_errno;
    return status;
}

static inline int skiff_run_with_seccomp(const void *bpf, size_t len, const char *path, char *const argv[]) {
    return skiff_run_with_seccomp_output(bpf, len, path, argv, -1);
}

/* ---- the image worker's user namespace ---- */
#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif

/* Joins the user namespace open at fd (a running container's, opened by the service from
 * /proc/<pid>/ns/user) and becomes uid and gid 0 there. The process must still be
 * single-threaded (setns(CLONE_NEWUSER) refuses otherwise). Returns 0, or -1 with errno. */
static inline int skiff_join_userns(int fd) {
    /* Raw calls (setns and setres*id are _GNU_SOURCE declarations); one thread: no glibc
     * broadcast of the ids is needed. */
    if (syscall(SYS_setns, fd, CLONE_NEWUSER) != 0) return -1;
    if (syscall(SYS_setresgid, 0, 0, 0) != 0) return -1;
    if (syscall(SYS_setresuid, 0, 0, 0) != 0) return -1;
    return 0;
}

/* Forks a child that unshares a user namespace, writes one byte to ready_w (1 = unshared,
 * 0 = unshare failed), waits for one byte 1 on go_r (the parent wrote its id maps), becomes
 * uid and gid 0 in the namespace, asks for SIGTERM should the parent die, and execs path with
 * envp. The child closes parent_fds[0..1] (the parent's ends of both pipes) first. Only
 * async-signal-safe calls run in the child. Returns the child's pid, or -errno. */
static inline int skiff_userns_exec(const char *path, char *const argv[], char *const envp[],
                                    int ready_w, int go_r, const int parent_fds[2]) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(parent_fds[0]);
        close(parent_fds[1]);
        char ok = syscall(SYS_unshare, CLONE_NEWUSER) == 0 ? 1 : 0;
        if (write(ready_w, &ok, 1) != 1 || !ok)
            _exit(125);
        char go = 0;
        ssize_t n;
        do {
            n = read(go_r, &go, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1 || go != 1)
            _exit(125);
        if (syscall(SYS_setresgid, 0, 0, 0) != 0 || syscall(SYS_setresuid, 0, 0, 0) != 0)
            _exit(125);
        (void)syscall(SYS_setgroups, 0, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(125);
        close(ready_w);
        close(go_r);
        execve(path, argv, envp);
        _exit(127);
    }
    return pid;
}

/* An unnamed temporary file in dir (O_TMPFILE, which Swift's Glibc does not export): gone
 * when the last descriptor closes. Returns the descriptor or -1 with errno. */
static inline int skiff_open_tmpfile(const char *dir) {
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
    return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* fcntl(F_SETPIPE_SZ), a _GNU_SOURCE constant: a pipe's capacity in bytes. */
#define SKIFF_F_SETPIPE_SZ 1031

/* pipe2(2) (a _GNU_SOURCE declaration): both ends close-on-exec with O_CLOEXEC. */
static inline int skiff_pipe2(int fds[2], int flags) {
    return (int)syscall(SYS_pipe2, fds, flags);
}

/* pidfd_open(2): a descriptor that polls readable when the process exits. -1 with errno. */
static inline int skiff_pidfd_open(int pid) {
    return (int)syscall(434 /* SYS_pidfd_open */, pid, 0);
}

/* An eventfd (counter 0, close-on-exec, non-blocking): <sys/eventfd.h> is not in Swift's
 * Glibc module. -1 with errno. */
#include <sys/eventfd.h>
static inline int skiff_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* ---- SHA-256 from libcrypto, loaded on first use (sha256.c) ---- */
/* Room for OpenSSL's SHA256_CTX (112 bytes), kept opaque: a plain struct Swift copies by value. */
typedef struct {
    _Alignas(8) unsigned char bytes[128];
} skiff_sha256_ctx;

/* 1 when libcrypto's SHA256_Init/Update/Final could be loaded (once, thread-safe), else 0. */
int skiff_sha256_load(void);
/* Only after skiff_sha256_load() returned 1. */
void skiff_sha256_init(skiff_sha256_ctx *context);
void skiff_sha256_update(skiff_sha256_ctx *context, const void *bytes, size_t count);
void skiff_sha256_final(skiff_sha256_ctx *context, unsigned char digest[32]);

#endif

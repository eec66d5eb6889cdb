#ifndef SKIFF_CLINUX_TIED_SPAWN_H
#define SKIFF_CLINUX_TIED_SPAWN_H
/* A helper process that ends with the process that started it (the monitor's pasta,
 * docs/networking.md): posix_spawn cannot ask for a parent-death signal, so this forks, and the
 * child moves `fds[i]` to descriptor i, closes every descriptor above, clears its signal mask,
 * sets SIGPIPE back to default, asks for `death_signal` when its parent (thread) dies, and execs
 * `path`. Only async-signal-safe calls run in the child. Returns the child's pid, or -errno. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static inline int skiff_spawn_tied(const char *path, char *const argv[], char *const envp[],
                                   const int *fds, int count, int death_signal) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid != 0)
        return pid;
    /* First every source above the targets, so that moving one down cannot clobber another. */
    int high[64];
    if (count > 64)
        _exit(125);
    for (int i = 0; i < count; i++) {
        high[i] = fds[i] < 0 ? -1 : (int)fcntl(fds[i], F_DUPFD, count);
        if (fds[i] >= 0 && high[i] < 0)
            _exit(125);
    }
    for (int i = 0; i < count; i++) {
        if (high[i] < 0)
            continue;
        if (dup2(high[i], i) != i)
            _exit(125);
    }
    (void)syscall(SYS_close_range, (unsigned)count, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    (void)signal(SIGPIPE, SIG_DFL);
    if (prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0)
        _exit(125);
    if (getppid() != parent)
        _exit(125);
    execve(path, argv, envp);
    _exit(127);
}

/* pidfd_send_signal(2): `signal` to the process `pidfd` names (not to a pid recycled since). */
static inline int skiff_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(424 /* SYS_pidfd_send_signal */, pidfd, signal, NULL, 0);
}

#endif

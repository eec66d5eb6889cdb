/* The parent/child message channel and small helpers. See include/cruntime.h. */
#define _GNU_SOURCE
#include "cruntime.h"
#include "fdpass.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int skiff_msg_send(int fd, const struct skiff_msg *msg) {
    ssize_t n = SKIFF_RETRY(send(fd, msg, sizeof *msg, MSG_NOSIGNAL));
    if (n < 0) return -errno;
    return n == (ssize_t)sizeof *msg ? 0 : -EPROTO;
}

int skiff_msg_recv_fd(int fd, struct skiff_msg *msg, int *passed_fd) {
    ssize_t n = skiff_fd_recv(fd, msg, sizeof *msg, passed_fd);
    if (n < 0) return (int)n;
    if (n == 0) return -EPIPE;
    return n == (ssize_t)sizeof *msg ? 0 : -EPROTO;
}

int skiff_msg_recv(int fd, struct skiff_msg *msg) {
    return skiff_msg_recv_fd(fd, msg, NULL);
}

int skiff_send_fd(int socket_fd, int fd) {
    struct skiff_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = SKIFF_MSG_CONSOLE;
    int err = skiff_fd_send(socket_fd, &msg, sizeof msg, fd);
    /* A short send was never an error here (SOCK_SEQPACKET sends whole messages). */
    return err == -EPROTO ? 0 : err;
}

int skiff_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
}

int skiff_last_cap(void) {
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 40;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 40;
    int value = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) value = value * 10 + (buf[i] - '0');
    return value > 0 && value < 64 ? value : 40;
}

const char *skiff_step_name(int step) {
    switch (step) {
    case SKIFF_STEP_SETNS: return "join namespace";
    case SKIFF_STEP_SYNC: return "sync";
    case SKIFF_STEP_SETUP_IDENTITY: return "become root in the user namespace";
    case SKIFF_STEP_MOUNT_PRIVATE: return "make mounts private";
    case SKIFF_STEP_ROOTFS_MOUNT: return "mount rootfs";
    case SKIFF_STEP_ROOTFS_BIND: return "bind rootfs";
    case SKIFF_STEP_MOUNT: return "mount";
    case SKIFF_STEP_DEVICES: return "create device";
    case SKIFF_STEP_PIVOT_ROOT: return "pivot_root";
    case SKIFF_STEP_MASK: return "mask path";
    case SKIFF_STEP_READONLY_PATH: return "make path read-only";
    case SKIFF_STEP_ROOTFS_READONLY: return "make rootfs read-only";
    case SKIFF_STEP_HOSTNAME: return "set hostname";
    case SKIFF_STEP_RLIMIT: return "setrlimit";
    case SKIFF_STEP_OOM_SCORE: return "set oom_score_adj";
    case SKIFF_STEP_CWD: return "chdir";
    case SKIFF_STEP_GROUPS: return "setgroups";
    case SKIFF_STEP_SETGID: return "setresgid";
    case SKIFF_STEP_SETUID: return "setresuid";
    case SKIFF_STEP_CAPS_BOUNDING: return "drop bounding capability";
    case SKIFF_STEP_CAPS: return "set capabilities";
    case SKIFF_STEP_CAPS_AMBIENT: return "set ambient capabilities";
    case SKIFF_STEP_NO_NEW_PRIVS: return "set no_new_privs";
    case SKIFF_STEP_SELINUX: return "set SELinux exec label";
    case SKIFF_STEP_WAIT_START: return "wait for start";
    case SKIFF_STEP_SECCOMP: return "load seccomp filter";
    case SKIFF_STEP_CLOSE_FDS: return "close descriptors";
    case SKIFF_STEP_EXEC: return "exec";
    case SKIFF_STEP_TERMINAL: return "set up terminal";
    case SKIFF_STEP_SYSCTL: return "set sysctl";
    case SKIFF_STEP_NETWORK: return "bring up loopback";
    case SKIFF_STEP_STDIO: return "set up stdio";
    case SKIFF_STEP_CGROUP_NS: return "make cgroup namespace";
    case SKIFF_STEP_MOUNT_IN_PROC: return "mount inside /proc";
    default: return "set up";
    }
}

int skiff_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ? -errno : 0;
}

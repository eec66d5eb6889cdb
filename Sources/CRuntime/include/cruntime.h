#ifndef SKIFF_CRUNTIME_H
#define SKIFF_CRUNTIME_H
/*
 * The child side of container creation. Everything between clone() and execve() runs here, in
 * C, with raw syscalls only: the parent is a multithreaded Swift process, and glibc wrappers that
 * synchronise threads (setresuid, setgroups) would hang in the child.
 *
 * Parent and child talk over a socketpair in fixed-size messages (struct skiff_msg). A failure in
 * the child arrives as a step and an errno, never as a bare exit status.
 */
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* Linux constants glibc exposes only with _GNU_SOURCE, for Swift. */
enum {
    SKIFF_CLONE_NEWNS = 0x00020000,
    SKIFF_CLONE_NEWCGROUP = 0x02000000,
    SKIFF_CLONE_NEWUTS = 0x04000000,
    SKIFF_CLONE_NEWIPC = 0x08000000,
    SKIFF_CLONE_NEWUSER = 0x10000000,
    SKIFF_CLONE_NEWPID = 0x20000000,
    SKIFF_CLONE_NEWNET = 0x40000000,
    SKIFF_O_PATH = 010000000,
};

enum skiff_msg_type {
    SKIFF_MSG_NEED_MAPPING = 1,   /* child -> parent: write my uid_map/gid_map now */
    SKIFF_MSG_MAPPED = 2,         /* parent -> child: maps written */
    SKIFF_MSG_READY = 3,          /* child -> parent: created, waiting for start (or about to exec) */
    SKIFF_MSG_ERROR = 4,          /* child -> parent: step + errno + detail */
    SKIFF_MSG_PID = 5,            /* intermediate -> parent: the pid of the process in the joined pid ns (index) */
    SKIFF_MSG_CONSOLE = 6,        /* child -> parent: the pty master, as SCM_RIGHTS */
    SKIFF_MSG_JOIN_CGROUPS = 7,   /* child -> parent: move me into the container's cgroups now */
    SKIFF_MSG_CGROUPS_JOINED = 8, /* parent -> child: done */
    SKIFF_MSG_PID_RECORDED = 9,   /* parent -> forked process: its pid (SKIFF_MSG_PID) is known; go on */
    SKIFF_MSG_SECCOMP_LISTENER = 10, /* child -> parent: the seccomp user-notification fd, as SCM_RIGHTS */
    SKIFF_MSG_NAMESPACE = 11,     /* child -> parent: its network (index 0) or user (index 1) namespace, as SCM_RIGHTS */
};

/* The process forked into a pid namespace shares the sync socket with the intermediate that
 * forked it. It sends nothing (no ready, no error, no request) before the parent answered the
 * intermediate's SKIFF_MSG_PID with SKIFF_MSG_PID_RECORDED: the parent never sees a message of
 * the container's process before it knows that process's pid. */

enum skiff_step {
    SKIFF_STEP_SETNS = 1,
    SKIFF_STEP_SYNC,
    SKIFF_STEP_SETUP_IDENTITY,
    SKIFF_STEP_MOUNT_PRIVATE,
    SKIFF_STEP_ROOTFS_MOUNT,
    SKIFF_STEP_ROOTFS_BIND,
    SKIFF_STEP_MOUNT,
    SKIFF_STEP_DEVICES,
    SKIFF_STEP_PIVOT_ROOT,
    SKIFF_STEP_MASK,
    SKIFF_STEP_READONLY_PATH,
    SKIFF_STEP_ROOTFS_READONLY,
    SKIFF_STEP_HOSTNAME,
    SKIFF_STEP_RLIMIT,
    SKIFF_STEP_OOM_SCORE,
    SKIFF_STEP_CWD,
    SKIFF_STEP_GROUPS,
    SKIFF_STEP_SETGID,
    SKIFF_STEP_SETUID,
    SKIFF_STEP_CAPS_BOUNDING,
    SKIFF_STEP_CAPS,
    SKIFF_STEP_CAPS_AMBIENT,
    SKIFF_STEP_NO_NEW_PRIVS,
    SKIFF_STEP_SELINUX,
    SKIFF_STEP_WAIT_START,
    SKIFF_STEP_SECCOMP,
    SKIFF_STEP_CLOSE_FDS,
    SKIFF_STEP_EXEC,
    SKIFF_STEP_TERMINAL,
    SKIFF_STEP_SYSCTL,
    SKIFF_STEP_NETWORK,
    SKIFF_STEP_STDIO,
    SKIFF_STEP_CGROUP_NS,
    SKIFF_STEP_MOUNT_IN_PROC,  /* a mount whose target resolved inside procfs */
};

struct skiff_msg {
    int32_t type;
    int32_t step;
    int32_t err;       /* errno */
    int32_t index;     /* which mount / path / rlimit, or -1 */
    char detail[512];  /* the object: a path, a name */
};

enum skiff_mount_kind {
    SKIFF_MOUNT_FS = 0,      /* mount(source, target, fstype, flags, data) */
    SKIFF_MOUNT_BIND = 1,    /* bind (MS_REC if recursive), then remount with flags */
    SKIFF_MOUNT_SYMLINK = 2, /* symlink at destination pointing to source (EEXIST is fine) */
    SKIFF_MOUNT_REMOUNT = 3, /* bind-remount what is mounted at destination with flags */
};

struct skiff_mount {
    int kind;
    const char *source;      /* host path for binds; device/"none" for file systems */
    const char *destination; /* absolute path inside the container */
    const char *fstype;
    unsigned long flags;     /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, ... */
    unsigned long propagation; /* MS_PRIVATE / MS_SLAVE / MS_SHARED (| MS_REC) or 0 */
    const char *data;
    int recursive;
    int source_is_dir;       /* target created as a directory (else a file) */
    const char *fallback_source; /* SKIFF_MOUNT_FS: bind this (recursively) instead when the
                                  * file system may not be mounted here (EPERM, EBUSY), as
                                  * runc does for cgroup file systems; NULL: no fallback */
};

struct skiff_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

struct skiff_child_config {
    int clone_flags;               /* CLONE_NEW* for the namespaces to create */
    int setns_fds[8];              /* namespaces to join (opened by the parent) */
    int setns_types[8];
    int n_setns;
    int sync_fd;                   /* child's end of the socketpair */
    int wait_for_mapping;          /* a new user namespace: parent writes the maps */

    const char *rootfs;            /* absolute host path of the root directory */
    const char *rootfs_fstype;     /* optional: mount this on rootfs first (e.g. overlay) */
    const char *rootfs_data;
    int rootfs_readonly;
    unsigned long rootfs_propagation;  /* for "/" before pivot_root; default MS_REC|MS_PRIVATE */

    const struct skiff_mount *mounts;
    int n_mounts;
    int bind_devices;              /* in a user namespace: bind host devices instead of mknod */
    const char *const *masked_paths;
    int n_masked_paths;
    const char *const *readonly_paths;
    int n_readonly_paths;
    const char *hostname;          /* NULL: leave as is */
    const char *domainname;
    const char *const *sysctl_keys; /* /proc/sys paths relative, e.g. "net/ipv4/ip_forward" */
    const char *const *sysctl_values;
    int n_sysctls;

    const struct skiff_rlimit *rlimits;
    int n_rlimits;
    int set_oom_score_adj;
    int oom_score_adj;

    uint32_t uid;
    uint32_t gid;
    const uint32_t *groups;
    int n_groups;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int last_cap;                  /* highest capability the kernel knows */
    int no_new_privs;
    const char *selinux_exec_label; /* NULL: none */

    const unsigned char *seccomp_bpf; /* struct sock_filter[], NULL: none */
    size_t seccomp_len;
    int seccomp_notify;            /* load with SECCOMP_FILTER_FLAG_NEW_LISTENER before `ready` and
                                    * send the listener (SKIFF_MSG_SECCOMP_LISTENER): explained
                                    * denials, docs/denials.md */

    const char *cwd;
    int create_cwd;                /* make a missing cwd (Docker's WORKDIR rule), as root in the container */
    const char *const *argv;
    const char *const *envp;
    int start_fifo_fd;             /* O_PATH fd of exec.fifo: wait for `start`; -1: exec at once */
    int terminal;                  /* make a pty in the container's devpts, send the master */
    unsigned short console_rows;   /* the pty's size before the process runs; 0: the kernel's */
    unsigned short console_columns;
    int join_pid_namespace;        /* setns joined a pid namespace: fork once more */
    int unshare_after_join;        /* clone_flags are unshared after the setns calls (a joined user
                                    * namespace must own them); a new pid namespace then forks */
    int set_stdio;                 /* 1: stdio_fds become the process's 0, 1 and 2 (0: inherit) */
    int stdio_fds[3];
    int join_cgroups;              /* ask the parent to move this process into its cgroups (as
                                    * root, cgroup v1) before anything else is set up */
    int unshare_cgroupns;          /* a new cgroup namespace, made after joining the cgroups (so
                                    * that they are its root); CLONE_NEWCGROUP is then not in
                                    * clone_flags */
    int send_namespaces;           /* send the parent the network and user namespaces (a network
                                    * helper joins them by descriptor: the process is not dumpable) */
    unsigned int pid_report_delay_us; /* tests (debug builds) only: the intermediate waits this long
                                    * before it reports the forked process's pid */
    int into_cgroup;               /* cgroup v2: create the container's process in the cgroup of
                                    * cgroup_fd (clone3 with CLONE_INTO_CGROUP), so that it is
                                    * never moved; where clone3 refuses, a plain clone, and the
                                    * process asks to be moved (join_cgroups) as on cgroup v1 */
    int cgroup_fd;                 /* with into_cgroup: an O_PATH descriptor of the cgroup's directory */
    int clone3_test_errno;         /* tests (debug builds) only: clone3 into the cgroup fails with
                                    * this errno without being called (forces the fallback) */
};

/* Clones the container's first process. Returns its pid (in the parent's pid namespace), or
 * -errno. The caller keeps its end of the socketpair and follows the protocol. */
pid_t skiff_clone_child(const struct skiff_child_config *config);

/* The name of a step, for error messages ("mount", "pivot_root", ...). */
const char *skiff_step_name(int step);

/* Message I/O on the sync socket: 0 on success, -errno on failure, -EPIPE on EOF.
 * skiff_msg_recv_fd also returns a descriptor passed with the message in *passed_fd (or -1). */
int skiff_msg_send(int fd, const struct skiff_msg *msg);
int skiff_msg_recv(int fd, struct skiff_msg *msg);
int skiff_msg_recv_fd(int fd, struct skiff_msg *msg, int *passed_fd);

/* Small helpers the Swift side needs and cannot call directly. */
int skiff_socketpair(int fds[2]);           /* AF_UNIX SOCK_SEQPACKET, CLOEXEC */
int skiff_last_cap(void);                   /* /proc/sys/kernel/cap_last_cap */
int skiff_send_fd(int socket_fd, int fd);   /* SCM_RIGHTS one descriptor with one byte */
int skiff_set_child_subreaper(void);        /* prctl(PR_SET_CHILD_SUBREAPER, 1) */

/* keeper.c: the rootless user namespace keeper (Runtime's SharedUserNamespace). */
/* Starts a process in a new user namespace, init's child, that waits for a byte 'g' on *go_fd
 * (then execs `relay` with `argv`, `listener` as its descriptor 3); its pid, or -errno. */
pid_t skiff_keeper_start(const char *relay, char *const argv[], int listener, int *go_fd);
/* Connects to a keeper's socket and receives its pid and its namespace's descriptor: 0, or
 * -errno. */
int skiff_keeper_connect(const char *path, int *namespace_fd, int *keeper_pid);
/* A listening unix socket at `path` (an old one there is replaced), 0600: its fd, or -errno. */
int skiff_keeper_listen(const char *path);

#endif

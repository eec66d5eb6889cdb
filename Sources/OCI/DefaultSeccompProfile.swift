// The built-in default seccomp profile: what the engine uses when containers.conf names no
// `seccomp_profile` and no seccomp.json is installed, as Podman falls back on the default
// compiled into containers/common. The same copy ships as `share/seccomp.json`, which
// `seccomp_profile` can name (a test keeps the two identical).
//
// Where the facts come from: the syscall lists, the capability-conditional groups, the
// personality(2) values and the socket(AF_NETLINK, NETLINK_AUDIT) rule are those of Podman's
// default profile, containers/common `pkg/seccomp/seccomp.json` at v0.50.1 (identical in
// v0.50.0). The layout is ours: syscalls grouped by what they touch, and the arm and ppc64le
// `sync_file_range2` entries merged. The effect is the same, with one difference in the text
// only: upstream also lists `setns` in the CAP_SYS_ADMIN pair of entries, but `setns` is in its
// unconditional allow list first, and libseccomp keeps the first unconditional rule for a
// syscall, so upstream allows `setns` with or without CAP_SYS_ADMIN, as this profile does.
//
// What v0.50.1 decides, kept here: unknown syscalls fail with ENOSYS (`defaultErrnoRet` 38), so
// programs fall back as they do on an older kernel; refused known calls fail with EPERM. Unlike
// moby's profile, v0.50.1 allows clone/clone3/unshare/mount/setns and reboot for everyone (a
// rootless container's user namespace bounds them) and has no clone-flag or AF_VSOCK rules.
// Errnos are given by name too ("errno"), which this parser and Podman prefer, so MIPS gets its
// own numbers.

public enum DefaultSeccompProfile {
    /// The source name errors carry.
    public static let source = "default"

    /// The profile, parsed once.
    public static func profile() throws(OCIError) -> SeccompProfile {
        try parsed.get()
    }

    private static let parsed: Result<SeccompProfile, OCIError> = {
        do throws(OCIError) {
            return .success(try SeccompProfile.parse(json, source: source))
        } catch {
            return .failure(error)
        }
    }()

    /// The JSON text, byte for byte the same as `share/seccomp.json`.
    public static let json: String = #"""
{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 38,
  "defaultErrno": "ENOSYS",
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    {"architecture": "SCMP_ARCH_MIPS64", "subArchitectures": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]},
    {"architecture": "SCMP_ARCH_MIPS64N32", "subArchitectures": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]},
    {"architecture": "SCMP_ARCH_MIPSEL64", "subArchitectures": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]},
    {"architecture": "SCMP_ARCH_MIPSEL64N32", "subArchitectures": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]},
    {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]}
  ],
  "syscalls": [
    {
      "comment": "Refused with EPERM: obsolete or rarely needed interfaces",
      "names": [
        "bdflush", "nfsservctl", "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname",
        "sgetmask", "ssetmask", "sysfs", "uselib", "ustat", "vm86", "vm86old", "swapcontext", "nice"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM"
    },
    {
      "comment": "Refused with EPERM: calls that reach the host (kexec, swap, PCI, page migration) or widen attacks",
      "names": [
        "kexec_load", "kexec_file_load", "swapon", "swapoff", "pciconfig_iobase", "pciconfig_read",
        "pciconfig_write", "migrate_pages", "move_pages", "io_pgetevents", "userfaultfd", "vmsplice"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM"
    },
    {
      "comment": "Files and directories: names, metadata, permissions",
      "names": [
        "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "open", "openat",
        "openat2", "creat", "close", "close_range", "name_to_handle_at", "mkdir", "mkdirat", "mknod",
        "mknodat", "rmdir", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "rename",
        "renameat", "renameat2", "readlink", "readlinkat", "getdents", "getdents64", "readdir",
        "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx",
        "statfs", "statfs64", "fstatfs", "fstatfs64", "chmod", "fchmod", "fchmodat", "chown",
        "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "umask", "truncate",
        "truncate64", "ftruncate", "ftruncate64", "utime", "utimes", "utimensat", "utimensat_time64",
        "futimesat"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "File data and descriptors",
      "names": [
        "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev",
        "pwritev2", "lseek", "_llseek", "sendfile", "sendfile64", "splice", "tee", "copy_file_range",
        "fallocate", "fadvise64", "fadvise64_64", "readahead", "fsync", "fdatasync", "sync",
        "syncfs", "sync_file_range", "flock", "fcntl", "fcntl64", "ioctl", "dup", "dup2", "dup3",
        "pipe", "pipe2"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Extended attributes",
      "names": [
        "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr",
        "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Waiting for events: poll, epoll, eventfd, inotify, signalfd, timerfd, AIO",
      "names": [
        "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
        "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init",
        "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark", "signalfd",
        "signalfd4", "timerfd", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "io_setup", "io_destroy", "io_submit", "io_cancel",
        "io_getevents"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Memory",
      "names": [
        "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
        "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "mbind",
        "get_mempolicy", "set_mempolicy", "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free",
        "pkey_mprotect", "membarrier"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Processes and threads",
      "names": [
        "fork", "vfork", "clone", "clone3", "execve", "execveat", "exit", "exit_group", "wait4",
        "waitid", "waitpid", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid",
        "setpgid", "setsid", "set_tid_address", "get_thread_area", "set_thread_area",
        "set_robust_list", "get_robust_list", "futex", "futex_time64", "rseq", "restart_syscall",
        "prctl", "seccomp", "ptrace", "process_vm_readv", "process_vm_writev", "process_mrelease",
        "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "kill", "tkill", "tgkill", "capget",
        "capset", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "keyctl",
        "getrandom", "getcpu", "uname", "sysinfo", "syslog", "syscall"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Namespaces and mounts (the user namespace limits what they can reach); reboot only ends the container's PID namespace",
      "names": [
        "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig",
        "fsmount", "fspick", "move_mount", "mount_setattr", "open_tree", "reboot"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Scheduling, priorities and resource limits",
      "names": [
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
        "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
        "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
        "getrlimit", "setrlimit", "ugetrlimit", "prlimit64", "getrusage", "times"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "User and group IDs",
      "names": [
        "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
        "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid",
        "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32",
        "setresuid", "setresuid32", "setresgid", "setresgid32", "setgroups", "setgroups32",
        "setfsuid", "setfsuid32", "setfsgid", "setfsgid32"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Signals",
      "names": [
        "rt_sigaction", "rt_sigprocmask", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn",
        "sigaction", "sigprocmask", "sigpending", "sigsuspend", "sigreturn", "sigaltstack", "signal",
        "pause", "alarm"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Clocks and timers (reading clocks; setting them needs CAP_SYS_TIME below)",
      "names": [
        "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
        "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "adjtimex",
        "clock_adjtime", "clock_adjtime64", "getitimer", "setitimer", "timer_create", "timer_delete",
        "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "Sockets, except socket(2) itself (see the CAP_AUDIT_WRITE entries at the end)",
      "names": [
        "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
        "getsockopt", "setsockopt", "shutdown", "send", "sendto", "sendmsg", "sendmmsg", "recv",
        "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "socketcall"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "System V and POSIX IPC",
      "names": [
        "ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop", "semtimedop",
        "semtimedop_time64", "shmget", "shmctl", "shmat", "shmdt", "mq_open", "mq_unlink",
        "mq_getsetattr", "mq_notify", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
        "mq_timedreceive_time64"
      ],
      "action": "SCMP_ACT_ALLOW"
    },
    {
      "comment": "personality(PER_LINUX) only",
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
      ]
    },
    {
      "comment": "personality(PER_LINUX32) only",
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
      ]
    },
    {
      "comment": "personality(UNAME26) only",
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 0, "value": 131072, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
      ]
    },
    {
      "comment": "personality(UNAME26 | PER_LINUX32) only",
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 0, "value": 131080, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
      ]
    },
    {
      "comment": "personality(query the current persona) only",
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 0, "value": 4294967295, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
      ]
    },
    {
      "comment": "Architecture-specific: sync_file_range with its arguments reordered",
      "names": ["sync_file_range2"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["arm", "arm64", "ppc64le"]}
    },
    {
      "comment": "Architecture-specific: 32- and 64-bit ARM",
      "names": ["arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["arm", "arm64"]}
    },
    {
      "comment": "Architecture-specific: x86-64 and x32",
      "names": ["arch_prctl"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["amd64", "x32"]}
    },
    {
      "comment": "Architecture-specific: x86 (LDT entries)",
      "names": ["modify_ldt"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["amd64", "x32", "x86"]}
    },
    {
      "comment": "Architecture-specific: s390",
      "names": ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"arches": ["s390", "s390x"]}
    },
    {
      "comment": "CAP_DAC_READ_SEARCH: opening files by handle",
      "names": ["open_by_handle_at"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_DAC_READ_SEARCH"]}
    },
    {
      "comment": "Without CAP_DAC_READ_SEARCH: EPERM",
      "names": ["open_by_handle_at"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_DAC_READ_SEARCH"]}
    },
    {
      "comment": "CAP_SYS_ADMIN: BPF, perf events, fanotify, quotas, host and domain names",
      "names": [
        "bpf", "perf_event_open", "fanotify_init", "lookup_dcookie", "quotactl", "sethostname",
        "setdomainname"
      ],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_ADMIN"]}
    },
    {
      "comment": "Without CAP_SYS_ADMIN: EPERM",
      "names": [
        "bpf", "perf_event_open", "fanotify_init", "lookup_dcookie", "quotactl", "sethostname",
        "setdomainname"
      ],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_ADMIN"]}
    },
    {
      "comment": "CAP_SYS_CHROOT: chroot",
      "names": ["chroot"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_CHROOT"]}
    },
    {
      "comment": "Without CAP_SYS_CHROOT: EPERM",
      "names": ["chroot"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_CHROOT"]}
    },
    {
      "comment": "CAP_SYS_MODULE: kernel modules",
      "names": ["init_module", "finit_module", "delete_module", "query_module"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_MODULE"]}
    },
    {
      "comment": "Without CAP_SYS_MODULE: EPERM",
      "names": ["init_module", "finit_module", "delete_module", "query_module"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_MODULE"]}
    },
    {
      "comment": "CAP_SYS_PACCT: process accounting",
      "names": ["acct"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_PACCT"]}
    },
    {
      "comment": "Without CAP_SYS_PACCT: EPERM",
      "names": ["acct"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_PACCT"]}
    },
    {
      "comment": "CAP_SYS_PTRACE: comparing and advising other processes",
      "names": ["kcmp", "process_madvise"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_PTRACE"]}
    },
    {
      "comment": "Without CAP_SYS_PTRACE: EPERM",
      "names": ["kcmp", "process_madvise"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_PTRACE"]}
    },
    {
      "comment": "CAP_SYS_RAWIO: I/O port access",
      "names": ["ioperm", "iopl"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_RAWIO"]}
    },
    {
      "comment": "Without CAP_SYS_RAWIO: EPERM",
      "names": ["ioperm", "iopl"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_RAWIO"]}
    },
    {
      "comment": "CAP_SYS_TIME: setting clocks",
      "names": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_TIME"]}
    },
    {
      "comment": "Without CAP_SYS_TIME: EPERM",
      "names": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_TIME"]}
    },
    {
      "comment": "CAP_SYS_TTY_CONFIG: hanging up the terminal",
      "names": ["vhangup"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_SYS_TTY_CONFIG"]}
    },
    {
      "comment": "Without CAP_SYS_TTY_CONFIG: EPERM",
      "names": ["vhangup"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 1,
      "errno": "EPERM",
      "excludes": {"caps": ["CAP_SYS_TTY_CONFIG"]}
    },
    {
      "comment": "Without CAP_AUDIT_WRITE: socket(AF_NETLINK, *, NETLINK_AUDIT) fails with EINVAL",
      "names": ["socket"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 22,
      "errno": "EINVAL",
      "args": [
        {"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
        {"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
      ],
      "excludes": {"caps": ["CAP_AUDIT_WRITE"]}
    },
    {
      "comment": "Without CAP_AUDIT_WRITE: any other protocol",
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_NE"}
      ],
      "excludes": {"caps": ["CAP_AUDIT_WRITE"]}
    },
    {
      "comment": "Without CAP_AUDIT_WRITE: any other family",
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "args": [
        {"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_NE"}
      ],
      "excludes": {"caps": ["CAP_AUDIT_WRITE"]}
    },
    {
      "comment": "CAP_AUDIT_WRITE: every socket",
      "names": ["socket"],
      "action": "SCMP_ACT_ALLOW",
      "includes": {"caps": ["CAP_AUDIT_WRITE"]}
    }
  ]
}

"""#
}

// Key schema for containers.conf and storage.conf as Podman 4.3 (Debian 12) reads them.
//
// Facts gathered (not copied) from:
//   containers/common, tag v0.50.1 (the version Debian 12's podman 4.3.1 is built against):
//     docs/containers.conf.5.md, pkg/config/containers.conf, pkg/config/config.go,
//     pkg/config/default.go, pkg/config/default_linux.go, pkg/config/config_linux.go,
//     pkg/config/config_local.go, pkg/config/systemd.go, pkg/config/pod_exit_policy.go
//   containers/storage, tag v1.43.0 (Debian 12 ships 1.43.0):
//     docs/containers-storage.conf.5.md, storage.conf, pkg/config/config.go,
//     types/options.go, types/options_linux.go, store.go
// Debian 12 installs the upstream pkg/config/containers.conf unchanged as
// /usr/share/containers/containers.conf, and the upstream storage.conf unchanged as
// /usr/share/containers/storage.conf.
//
// Key names and TOML types follow what the parsers actually decode (the Go struct tags),
// which in a few places differs from the man page; those spots are marked below.
//
// Defaults: the value in force when the key is absent, for rootful Podman on a Linux
// host like Debian 12 (systemd as PID 1, journald, cgroup v2, AppArmor, no SELinux).
// containers.conf defaults are the compiled-in ones plus the only two keys Debian's
// /usr/share/containers/containers.conf actually sets (default_capabilities,
// default_sysctls). storage.conf defaults are the compiled-in ones (the shipped
// storage.conf also sets driver = "overlay" and overlay mountopt = "nodev").
// `nil` means the value is worked out at run time (host probes, $HOME/$TMPDIR, paths
// derived from graphroot), or the key is a free-form table or a table value.

extension ConfigSchema {
    /// Every key Podman 4.3 knows in containers.conf, with its TOML type and Podman's built-in default.
    static let containersKeys: [KeySpec] = [
        // [containers]
        KeySpec("containers", "annotations", .stringArray, default: .stringArray([])),
        KeySpec("containers", "apparmor_profile", .string, default: .string("containers-default-0.50.1")),  // name carries the c/common version; man page says "container-default"
        KeySpec("containers", "base_hosts_file", .string, default: .string("")),  // "" means /etc/hosts; also "image", "none"
        KeySpec("containers", "cgroupns", .string, default: .string("private")),  // "host" on cgroup v1 hosts
        KeySpec("containers", "cgroups", .string, default: .string("enabled")),
        KeySpec("containers", "default_capabilities", .stringArray, default: .stringArray(["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"])),  // from the shipped file; compiled-in list has 14 (adds AUDIT_WRITE, MKNOD, NET_RAW)
        KeySpec("containers", "default_sysctls", .stringArray, default: .stringArray(["net.ipv4.ping_group_range=0 0"])),  // from the shipped file; compiled-in is []
        KeySpec("containers", "default_ulimits", .stringArray, default: nil),  // compiled-in: ["nproc=<pid_max>:<pid_max>"] probed from /proc
        KeySpec("containers", "denial_hint", .bool, default: .bool(true)),  // Skiff's own (docs/denials.md): the hint line after an exit that followed a denial
        KeySpec("containers", "devices", .stringArray, default: .stringArray([])),
        KeySpec("containers", "dns_options", .stringArray, default: .stringArray([])),
        KeySpec("containers", "explain_denials", .bool, default: .bool(true)),  // Skiff's own (docs/denials.md): refused syscalls explained by the container's supervisor
        KeySpec("containers", "dns_searches", .stringArray, default: .stringArray([])),
        KeySpec("containers", "dns_servers", .stringArray, default: .stringArray([])),
        KeySpec("containers", "env", .stringArray, default: .stringArray(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"])),
        KeySpec("containers", "env_host", .bool, default: .bool(false)),
        KeySpec("containers", "host_containers_internal_ip", .string, default: .string("")),
        KeySpec("containers", "http_proxy", .bool, default: .bool(true)),
        KeySpec("containers", "init", .bool, default: .bool(false)),
        KeySpec("containers", "init_path", .string, default: .string("")),  // "" falls back to [engine] init_path
        KeySpec("containers", "ipcns", .string, default: .string("shareable")),
        KeySpec("containers", "keyring", .bool, default: .bool(true)),
        KeySpec("containers", "label", .bool, default: .bool(true)),  // compiled-in: true only if SELinux is enabled; ignored when it is not
        KeySpec("containers", "log_driver", .string, default: nil),  // "journald" if the journal is usable, else "k8s-file"
        KeySpec("containers", "log_size_max", .integer, default: .integer(-1)),
        KeySpec("containers", "log_tag", .string, default: .string("")),
        KeySpec("containers", "netns", .string, default: .string("private")),
        KeySpec("containers", "no_hosts", .bool, default: .bool(false)),
        KeySpec("containers", "pidns", .string, default: .string("private")),
        KeySpec("containers", "pids_limit", .integer, default: .integer(2048)),  // man page says 1024; code says 2048
        KeySpec("containers", "prepare_volume_on_create", .bool, default: .bool(false)),
        KeySpec("containers", "seccomp_profile", .string, default: nil),  // unset: /etc/containers/seccomp.json if present, else /usr/share/containers/seccomp.json
        KeySpec("containers", "shm_size", .string, default: .string("65536k")),
        KeySpec("containers", "tz", .string, default: .string("")),
        KeySpec("containers", "umask", .string, default: .string("0022")),
        KeySpec("containers", "userns", .string, default: .string("host")),  // compiled-in value is "", which means host
        KeySpec("containers", "userns_size", .integer, default: .integer(65536)),
        KeySpec("containers", "utsns", .string, default: .string("private")),
        KeySpec("containers", "volumes", .stringArray, default: .stringArray([])),

        // [secrets]
        KeySpec("secrets", "driver", .string, default: .string("file")),

        // [secrets.opts]  (free-form string map, driver specific)
        KeySpec("secrets.opts", "*", .string, default: nil),

        // [configmaps]  (decoded by c/common v0.50.1 but not in the man page)
        KeySpec("configmaps", "driver", .string, default: .string("")),

        // [configmaps.opts]  (free-form string map)
        KeySpec("configmaps.opts", "*", .string, default: nil),

        // [network]
        KeySpec("network", "network_backend", .string, default: .string("")),  // "" = pick cni or netavark automatically
        KeySpec("network", "cni_plugin_dirs", .stringArray, default: .stringArray(["/usr/local/libexec/cni", "/usr/libexec/cni", "/usr/local/lib/cni", "/usr/lib/cni", "/opt/cni/bin"])),
        KeySpec("network", "default_network", .string, default: .string("podman")),
        KeySpec("network", "default_subnet", .string, default: .string("10.88.0.0/16")),
        KeySpec("network", "default_subnet_pools", .table, default: nil),  // array of {base, size}; compiled-in: 10.89.0.0/16, 10.90.0.0/15, 10.92.0.0/14, 10.96.0.0/11, 10.128.0.0/9, all size 24
        KeySpec("network", "network_config_dir", .string, default: nil),  // depends on backend and rootless
        KeySpec("network", "dns_bind_port", .integer, default: .integer(53)),  // compiled-in 0, which means 53
        KeySpec("network", "default_rootless_network_cmd", .string, default: .string("slirp4netns")),  // c/common 0.51 (Podman 4.4) on; Skiff runs slirp4netns for root too (docs/networking.md)
        KeySpec("network", "pasta_options", .stringArray, default: .stringArray([])),  // c/common 0.55 (Podman 4.6) on; pasta's arguments plus Podman's --map-gw

        // [[network.default_subnet_pools]]  (fields of each element)
        KeySpec("network.default_subnet_pools", "base", .string, default: nil),
        KeySpec("network.default_subnet_pools", "size", .integer, default: nil),

        // [engine]
        KeySpec("engine", "active_service", .string, default: .string("")),
        KeySpec("engine", "cgroup_check", .bool, default: .bool(false)),  // not in the man page
        KeySpec("engine", "cgroup_manager", .string, default: .string("systemd")),  // "cgroupfs" when PID 1 is not systemd, or rootless on cgroup v1
        KeySpec("engine", "chown_copied_files", .bool, default: .bool(true)),
        KeySpec("engine", "compat_api_enforce_docker_hub", .bool, default: .bool(true)),  // not in the man page
        KeySpec("engine", "compression_format", .string, default: .string("")),  // "" = library default (gzip)
        KeySpec("engine", "conmon_env_vars", .stringArray, default: .stringArray(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])),
        KeySpec("engine", "conmon_path", .stringArray, default: .stringArray(["/usr/libexec/podman/conmon", "/usr/local/libexec/podman/conmon", "/usr/local/lib/podman/conmon", "/usr/bin/conmon", "/usr/sbin/conmon", "/usr/local/bin/conmon", "/usr/local/sbin/conmon", "/run/current-system/sw/bin/conmon"])),
        KeySpec("engine", "conmonrs_path", .stringArray, default: .stringArray(["/usr/libexec/podman/conmonrs", "/usr/local/libexec/podman/conmonrs", "/usr/local/lib/podman/conmonrs", "/usr/bin/conmonrs", "/usr/sbin/conmonrs", "/usr/local/bin/conmonrs", "/usr/local/sbin/conmonrs", "/run/current-system/sw/bin/conmonrs"])),  // not in the man page
        KeySpec("engine", "detach_keys", .string, default: .string("ctrl-p,ctrl-q")),
        KeySpec("engine", "enable_port_reservation", .bool, default: .bool(true)),
        KeySpec("engine", "env", .stringArray, default: .stringArray([])),
        KeySpec("engine", "events_logfile_path", .string, default: nil),  // unset: <tmp_dir>/events/events.log
        KeySpec("engine", "events_logfile_max_size", .string, default: .string("1m")),  // human size, 1m = 1000000 bytes; a bare integer is also accepted
        KeySpec("engine", "events_logger", .string, default: .string("journald")),  // "file" when the journal is not usable
        KeySpec("engine", "exit_command_delay", .integer, default: .integer(300)),
        KeySpec("engine", "helper_binaries_dir", .stringArray, default: .stringArray(["/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman"])),
        KeySpec("engine", "hooks_dir", .stringArray, default: .stringArray(["/usr/share/containers/oci/hooks.d"])),
        KeySpec("engine", "image_build_format", .string, default: .string("oci")),  // deprecated in favour of image_default_format
        KeySpec("engine", "image_copy_tmp_dir", .string, default: nil),  // $TMPDIR, else "/var/tmp"
        KeySpec("engine", "image_default_format", .string, default: .string("")),
        KeySpec("engine", "image_default_transport", .string, default: .string("docker://")),
        KeySpec("engine", "image_parallel_copies", .integer, default: .integer(0)),  // 0 = library default
        KeySpec("engine", "image_volume_mode", .string, default: .string("bind")),
        KeySpec("engine", "infra_command", .string, default: .string("")),  // man page shows "/pause"; compiled-in is unset
        KeySpec("engine", "infra_image", .string, default: .string("")),
        KeySpec("engine", "init_path", .string, default: .string("/usr/libexec/podman/catatonit")),
        KeySpec("engine", "lock_type", .string, default: .string("shm")),
        KeySpec("engine", "machine_enabled", .bool, default: .bool(false)),  // not in the man page
        KeySpec("engine", "multi_image_archive", .bool, default: .bool(false)),
        KeySpec("engine", "namespace", .string, default: .string("")),
        KeySpec("engine", "network_cmd_options", .stringArray, default: .stringArray([])),
        KeySpec("engine", "network_cmd_path", .string, default: .string("")),
        KeySpec("engine", "no_pivot_root", .bool, default: .bool(false)),
        KeySpec("engine", "num_locks", .integer, default: .integer(2048)),
        KeySpec("engine", "pod_exit_policy", .string, default: .string("continue")),
        KeySpec("engine", "pull_policy", .string, default: .string("missing")),
        KeySpec("engine", "remote", .bool, default: .bool(false)),  // true in the podman-remote build
        KeySpec("engine", "remote_identity", .string, default: .string("")),  // deprecated
        KeySpec("engine", "remote_uri", .string, default: .string("")),  // deprecated
        KeySpec("engine", "runtime", .string, default: .string("skiff")),  // Skiff: its built-in runtime; Podman picks the first of crun, runc, runj, kata, runsc found
        KeySpec("engine", "runtime_path", .stringArray, default: .stringArray([])),  // deprecated, not in the man page
        KeySpec("engine", "runtime_supports_json", .stringArray, default: .stringArray(["crun", "runc", "kata", "runsc", "krun"])),
        KeySpec("engine", "runtime_supports_kvm", .stringArray, default: .stringArray(["kata", "kata-runtime", "kata-qemu", "kata-fc", "krun"])),
        KeySpec("engine", "runtime_supports_nocgroup", .stringArray, default: .stringArray(["crun", "krun"])),  // spelling the parser decodes
        KeySpec("engine", "runtime_supports_nocgroups", .stringArray, default: nil),  // spelling in the man page; v0.50.1 does not decode it
        KeySpec("engine", "service_timeout", .integer, default: .integer(5)),
        KeySpec("engine", "ssh_config", .string, default: nil),  // $CONTAINERS_SSH_CONF, else $HOME/.ssh/config; not in the man page
        KeySpec("engine", "static_dir", .string, default: nil),  // <graphroot>/libpod
        KeySpec("engine", "stop_timeout", .integer, default: .integer(10)),
        KeySpec("engine", "tmp_dir", .string, default: .string("/run/libpod")),  // rootless: $XDG_RUNTIME_DIR/libpod/tmp
        KeySpec("engine", "volume_path", .string, default: nil),  // <graphroot>/volumes
        KeySpec("engine", "volume_plugin_timeout", .integer, default: .integer(5)),

        // [engine.runtimes]  (runtime name -> candidate binary paths; compiled-in entries for crun, runc, runj, kata, runsc, krun)
        KeySpec("engine.runtimes", "*", .stringArray, default: nil),

        // [engine.volume_plugins]  (plugin name -> unix socket path)
        KeySpec("engine.volume_plugins", "*", .string, default: nil),

        // [engine.service_destinations]  (destination name -> table; the man page shows it without the engine. prefix)
        KeySpec("engine.service_destinations", "*", .table, default: nil),

        // [engine.service_destinations.<name>]
        KeySpec("engine.service_destinations.*", "uri", .string, default: nil),
        KeySpec("engine.service_destinations.*", "identity", .string, default: nil),
        KeySpec("engine.service_destinations.*", "is_machine", .bool, default: nil),

        // [machine]
        KeySpec("machine", "cpus", .integer, default: .integer(1)),
        KeySpec("machine", "disk_size", .integer, default: .integer(100)),  // man page and shipped file say 10; code says 100
        KeySpec("machine", "image", .string, default: .string("testing")),
        KeySpec("machine", "memory", .integer, default: .integer(2048)),
        KeySpec("machine", "user", .string, default: .string("core")),
        KeySpec("machine", "volumes", .stringArray, default: .stringArray(["$HOME:$HOME"])),
    ]

    /// Every key containers/storage 1.43 knows in storage.conf, with its TOML type and built-in default.
    static let storageKeys: [KeySpec] = [
        // [storage]
        KeySpec("storage", "driver", .string, default: .string("")),  // shipped file sets "overlay"
        KeySpec("storage", "graphroot", .string, default: .string("/var/lib/containers/storage")),  // rootless: computed
        KeySpec("storage", "rootless_storage_path", .string, default: nil),  // $XDG_DATA_HOME or $HOME/.local/share, + /containers/storage
        KeySpec("storage", "runroot", .string, default: .string("/run/containers/storage")),  // rootless: computed

        // [storage.options]
        KeySpec("storage.options", "additionalimagestores", .stringArray, default: .stringArray([])),
        KeySpec("storage.options", "additionallayerstores", .stringArray, default: .stringArray([])),  // experimental, not in the man page
        KeySpec("storage.options", "auto-userns-max-size", .integer, default: .integer(65536)),
        KeySpec("storage.options", "auto-userns-min-size", .integer, default: .integer(1024)),
        KeySpec("storage.options", "disable-volatile", .bool, default: .bool(false)),
        KeySpec("storage.options", "force_mask", .integer, default: .integer(0)),  // legacy driver-wide copy; decoded as a file mode integer, not a string
        KeySpec("storage.options", "ignore_chown_errors", .string, default: .string("")),  // legacy driver-wide copy
        KeySpec("storage.options", "mount_program", .string, default: .string("")),  // legacy driver-wide copy
        KeySpec("storage.options", "mountopt", .string, default: .string("")),  // legacy driver-wide copy
        KeySpec("storage.options", "pull_options", .table, default: nil),  // inline table of strings
        KeySpec("storage.options", "remap-gids", .string, default: .string("")),
        KeySpec("storage.options", "remap-group", .string, default: .string("")),
        KeySpec("storage.options", "remap-uids", .string, default: .string("")),
        KeySpec("storage.options", "remap-user", .string, default: .string("")),
        KeySpec("storage.options", "root-auto-userns-user", .string, default: .string("")),
        KeySpec("storage.options", "size", .string, default: .string("")),  // legacy driver-wide copy
        KeySpec("storage.options", "skip_mount_home", .string, default: .string("")),  // legacy driver-wide copy

        // storage.options.pull_options  (string map; the documented keys)
        KeySpec("storage.options.pull_options", "enable_partial_images", .string, default: .string("false")),
        KeySpec("storage.options.pull_options", "ostree_repos", .string, default: .string("")),
        KeySpec("storage.options.pull_options", "use_hard_links", .string, default: .string("false")),

        // [storage.options.overlay]
        KeySpec("storage.options.overlay", "force_mask", .string, default: .string("")),  // "", "shared", "private" or octal
        KeySpec("storage.options.overlay", "ignore_chown_errors", .string, default: .string("")),  // "true"/"false" as a string
        KeySpec("storage.options.overlay", "inodes", .string, default: .string("")),
        KeySpec("storage.options.overlay", "mount_program", .string, default: .string("")),
        KeySpec("storage.options.overlay", "mountopt", .string, default: .string("")),  // shipped file sets "nodev"
        KeySpec("storage.options.overlay", "size", .string, default: .string("")),
        KeySpec("storage.options.overlay", "skip_mount_home", .string, default: .string("")),  // "true"/"false" as a string

        // [storage.options.thinpool]  (devicemapper; every value is a string, "" = driver default)
        KeySpec("storage.options.thinpool", "autoextend_percent", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "autoextend_threshold", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "basesize", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "blocksize", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "directlvm_device", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "directlvm_device_force", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "fs", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "log_level", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "metadata_size", .string, default: nil),  // spelling in the man page; v1.43.0 does not decode it
        KeySpec("storage.options.thinpool", "metadatasize", .string, default: .string("")),  // spelling the parser decodes
        KeySpec("storage.options.thinpool", "min_free_space", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "mkfsarg", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "mountopt", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "size", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "use_deferred_deletion", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "use_deferred_removal", .string, default: .string("")),
        KeySpec("storage.options.thinpool", "xfs_nospace_max_retries", .string, default: .string("")),

        // [storage.options.vfs]
        KeySpec("storage.options.vfs", "ignore_chown_errors", .string, default: .string("")),  // "true"/"false" as a string

        // [storage.options.zfs]
        KeySpec("storage.options.zfs", "fsname", .string, default: .string("")),
        KeySpec("storage.options.zfs", "mountopt", .string, default: .string("")),
        KeySpec("storage.options.zfs", "size", .string, default: .string("")),

        // [storage.options.btrfs]
        KeySpec("storage.options.btrfs", "min_space", .string, default: .string("")),
        KeySpec("storage.options.btrfs", "size", .string, default: .string("")),

        // [storage.options.aufs]
        KeySpec("storage.options.aufs", "mountopt", .string, default: .string("")),
    ]
}

import OCI
import Platform

/// Everything the OCI `config.json` of a container is made from, resolved (no I/O here):
/// `ContainerSpec.build` is a pure function of it, so the spec is tested without a Store.
struct ContainerSpecInput: Sendable {
    var args: [String]
    var env: [String]
    var cwd: String
    var user: ImageUser
    var terminal = false
    var capabilities: [String]
    /// (`RLIMIT_NOFILE`, soft, hard).
    var rlimits: [(String, UInt64, UInt64)] = []
    var noNewPrivileges = false
    var hostname: String
    var domainname = ""
    var readonlyRoot = false
    /// Image layer `diff` directories, top first.
    var lowerDirs: [String]
    /// `<skiffRoot>/containers/<id>`.
    var containerDir: String
    /// The overlay is mounted `volatile` (no sync of its upper layer, at the unmount either): an
    /// AutoRemove container's, whose upper layer goes with it, as Podman does for `--rm`.
    var volatileRoot = false
    /// `bridge`, `none` or `host`.
    var networkMode = "bridge"
    var pidHost = false
    var ipcHost = false
    var utsHost = false
    /// `--cgroupns host`: no cgroup namespace of its own (it sees the host's cgroup paths).
    var cgroupnsHost = false
    /// A user namespace (rootless service): ids come from /etc/subuid at run time.
    var userNamespace = false
    var privileged = false
    var shmSize: Int64 = 64 << 20
    var maskedPaths: [String]?
    var readonlyPaths: [String]?
    /// The OCI `linux.seccomp` object (the profile's rules chosen for this container); nil:
    /// unconfined.
    var seccomp: Spec.Seccomp?
    var sysctls: [String: String] = [:]
    var annotations: [String: String] = [:]
    var oomScoreAdj = 0
    var mounts: [PlannedMount] = []
    /// Host path of an init binary (HostConfig.Init), mounted at /sbin/docker-init.
    var initPath: String?
    /// `linux.resources`: Skiff's runtime applies them as root on cgroup v1 (pids.max,
    /// memory.limit_in_bytes, memory.soft_limit_in_bytes, memory.memsw.limit_in_bytes,
    /// cpu.shares, cpu.cfs_quota_us/cfs_period_us); rootless they are recorded only (no cgroup
    /// delegation on cgroup v1).
    var pidsLimit: Int64?
    var resources = Resources()

    struct Resources: Sendable, Equatable {
        var memoryLimit: Int64?
        var memoryReservation: Int64?
        /// memory + swap; -1: unlimited.
        var memorySwap: Int64?
        var cpuShares: Int64?
        var cpuQuota: Int64?
        var cpuPeriod: Int64?
        /// cgroup v2 only (`ContainerPlanner.cgroupResources`): cpuset.cpus, cpuset.mems, the
        /// blkio weight (io.weight after conversion).
        var cpusetCpus: String?
        var cpusetMems: String?
        var blkioWeight: UInt16?
    }
    var selinuxProcessLabel = ""
    var selinuxMountLabel = ""
}

enum ContainerSpec {
    /// SELinux labels are chosen where libselinux is: the monitor, just before the runtime
    /// creates the container (`SELinuxLabel.forContainer`). The bundle carries the request:
    /// containers.conf `label` (on unless `label=disable` or privileged) and the `label=` options.
    static let selinuxAnnotation = "run.skiff.selinux-label-options"

    static func labelAnnotations(_ given: [String: String], options: [String], enabled: Bool) -> [String: String] {
        var annotations = given
        guard enabled, !options.contains("disable") else { return annotations }
        annotations[selinuxAnnotation] = JSON(options).text
        return annotations
    }

    static let maskedPaths = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                              "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux",
                              "/sys/dev/block"]
    static let readonlyPaths = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    static let initDestination = "/sbin/docker-init"

    /// The container's config.json, written through the OCI module's writer.
    static func build(_ input: ContainerSpecInput) -> Spec {
        let caps = input.capabilities
        var args = input.args
        if input.initPath != nil { args = [initDestination, "--"] + args }
        let process = Spec.Process(
            terminal: input.terminal,
            user: Spec.User(uid: input.user.uid, gid: input.user.gid, umask: 0o022,
                            additionalGids: input.user.additionalGids.isEmpty ? nil : input.user.additionalGids),
            args: args, env: input.env, cwd: input.cwd.isEmpty ? "/" : input.cwd,
            capabilities: Spec.Capabilities(bounding: caps, effective: caps, permitted: caps),
            rlimits: input.rlimits.isEmpty ? nil : input.rlimits.map { Spec.Rlimit(type: $0.0, hard: $0.2, soft: $0.1) },
            noNewPrivileges: input.noNewPrivileges,
            oomScoreAdj: input.oomScoreAdj != 0 ? input.oomScoreAdj : nil,
            selinuxLabel: input.selinuxProcessLabel.isEmpty ? nil : input.selinuxProcessLabel)

        var namespaces: [String] = []
        if !input.pidHost { namespaces.append("pid") }
        if !input.ipcHost { namespaces.append("ipc") }
        if !input.utsHost { namespaces.append("uts") }
        namespaces.append("mount")
        if input.networkMode != "host" { namespaces.append("network") }
        if !input.cgroupnsHost { namespaces.append("cgroup") }
        if input.userNamespace { namespaces.append("user") }

        let r = input.resources
        let pidsLimit = input.pidsLimit.flatMap { $0 > 0 ? $0 : nil }
        let resources = Spec.Resources(
            pidsLimit: pidsLimit, memoryLimit: r.memoryLimit, memoryReservation: r.memoryReservation,
            memorySwap: r.memorySwap, cpuShares: r.cpuShares.map { UInt64(max($0, 0)) }, cpuQuota: r.cpuQuota,
            cpuPeriod: r.cpuPeriod.map { UInt64(max($0, 0)) }, cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems,
            blkioWeight: r.blkioWeight)
        let linux = Spec.Linux(
            namespaces: namespaces.map { Spec.Namespace(type: $0) },
            maskedPaths: input.privileged ? input.maskedPaths : (input.maskedPaths ?? maskedPaths),
            readonlyPaths: input.privileged ? input.readonlyPaths : (input.readonlyPaths ?? readonlyPaths),
            mountLabel: input.selinuxMountLabel.isEmpty ? nil : input.selinuxMountLabel,
            sysctl: input.sysctls.isEmpty ? nil : input.sysctls,
            seccomp: input.seccomp,
            resources: resources.isEmpty ? nil : resources)

        return Spec(
            process: process,
            root: Spec.Root(path: "rootfs", readonly: input.readonlyRoot),
            hostname: input.utsHost ? "" : input.hostname,
            domainname: !input.domainname.isEmpty && !input.utsHost ? input.domainname : nil,
            mounts: mounts(input),
            linux: linux,
            annotations: input.annotations.isEmpty ? nil : input.annotations)
    }

    /// The root overlay, the kernel file systems, the container's hostname/hosts/resolv.conf,
    /// then the user's mounts (in the order planned; a mount over /dev/shm replaces ours).
    static func mounts(_ input: ContainerSpecInput) -> [Spec.Mount] {
        let dir = input.containerDir
        let userDestinations = Set(input.mounts.map(\.destination))
        var overlay = ["lowerdir=" + input.lowerDirs.joined(separator: ":"),
                       "upperdir=" + dir + "/upper", "workdir=" + dir + "/work"]
        if input.lowerDirs.isEmpty { overlay[0] = "lowerdir=" + dir + "/empty" }
        if input.volatileRoot { overlay.append("volatile") }
        var result = [Spec.Mount(destination: "/", type: "overlay", source: "overlay", options: overlay)]
        // Without a pid namespace of its own, a rootless container cannot mount a new proc: it binds the host's.
        if input.pidHost {
            result.append(Spec.Mount(destination: "/proc", type: "bind", source: "/proc", options: ["rbind", "nosuid", "noexec", "nodev"]))
        } else {
            result.append(Spec.Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]))
        }
        result += [
            Spec.Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Spec.Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
                       options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        ]
        if !userDestinations.contains("/dev/shm") {
            let size = "size=" + String(max(input.shmSize, 1) / 1024) + "k"
            result.append(Spec.Mount(destination: "/dev/shm", type: "tmpfs", source: "shm",
                                     options: ["nosuid", "noexec", "nodev", "mode=1777", size]))
        }
        if !input.ipcHost {
            result.append(Spec.Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]))
        }
        let sysReadOnly = input.privileged ? "rw" : "ro"
        if input.networkMode == "host" && input.userNamespace {
            // sysfs needs a network namespace the user namespace owns: bind the host's.
            result.append(Spec.Mount(destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", sysReadOnly]))
        } else {
            result.append(Spec.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", sysReadOnly]))
        }
        for (file, destination) in [("hostname", "/etc/hostname"), ("hosts", "/etc/hosts"), ("resolv.conf", "/etc/resolv.conf")]
            where !userDestinations.contains(destination) {
            result.append(Spec.Mount(destination: destination, type: "bind", source: dir + "/" + file, options: ["rbind", "rprivate"]))
        }
        if let initPath = input.initPath {
            result.append(Spec.Mount(destination: initDestination, type: "bind", source: initPath, options: ["bind", "rprivate", "ro"]))
        }
        result += input.mounts.map(\.spec)
        return result
    }
}

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
    /// A user namespace (rootless service): ids come from /etc/subuid at run time.
    var userNamespace = false
    var privileged = false
    var shmSize: Int64 = 64 << 20
    var maskedPaths: [String]?
    var readonlyPaths: [String]?
    /// The OCI `linux.seccomp` object; nil: unconfined.
    var seccomp: JSON?
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

    static func build(_ input: ContainerSpecInput) -> JSON {
        let caps = JSON(input.capabilities)
        var user: [JSON.Member] = [JSON.Member("uid", .int(Int64(input.user.uid))), JSON.Member("gid", .int(Int64(input.user.gid))),
                                   JSON.Member("umask", 0o022)]
        if !input.user.additionalGids.isEmpty {
            user.append(JSON.Member("additionalGids", .array(input.user.additionalGids.map { .int(Int64($0)) })))
        }
        var args = input.args
        if input.initPath != nil { args = [initDestination, "--"] + args }
        var process: [JSON.Member] = [
            JSON.Member("terminal", .bool(input.terminal)),
            JSON.Member("user", .object(user)),
            JSON.Member("args", JSON(args)),
            JSON.Member("env", JSON(input.env)),
            JSON.Member("cwd", .string(input.cwd.isEmpty ? "/" : input.cwd)),
            JSON.Member("capabilities", ["bounding": caps, "effective": caps, "permitted": caps]),
        ]
        if !input.rlimits.isEmpty {
            process.append(JSON.Member("rlimits", .array(input.rlimits.map {
                ["type": .string($0.0), "hard": .uint($0.2), "soft": .uint($0.1)]
            })))
        }
        process.append(JSON.Member("noNewPrivileges", .bool(input.noNewPrivileges)))
        if input.oomScoreAdj != 0 { process.append(JSON.Member("oomScoreAdj", .int(Int64(input.oomScoreAdj)))) }
        if !input.selinuxProcessLabel.isEmpty { process.append(JSON.Member("selinuxLabel", .string(input.selinuxProcessLabel))) }

        var namespaces: [JSON] = []
        if !input.pidHost { namespaces.append(["type": "pid"]) }
        if !input.ipcHost { namespaces.append(["type": "ipc"]) }
        if !input.utsHost { namespaces.append(["type": "uts"]) }
        namespaces.append(["type": "mount"])
        if input.networkMode != "host" { namespaces.append(["type": "network"]) }
        namespaces.append(["type": "cgroup"])
        if input.userNamespace { namespaces.append(["type": "user"]) }

        var linux: [JSON.Member] = [JSON.Member("namespaces", .array(namespaces))]
        if !input.privileged {
            linux.append(JSON.Member("maskedPaths", JSON(input.maskedPaths ?? maskedPaths)))
            linux.append(JSON.Member("readonlyPaths", JSON(input.readonlyPaths ?? readonlyPaths)))
        } else {
            if let masked = input.maskedPaths { linux.append(JSON.Member("maskedPaths", JSON(masked))) }
            if let readonly = input.readonlyPaths { linux.append(JSON.Member("readonlyPaths", JSON(readonly))) }
        }
        if !input.sysctls.isEmpty {
            linux.append(JSON.Member("sysctl", .object(input.sysctls.keys.sorted().map { JSON.Member($0, .string(input.sysctls[$0]!)) })))
        }
        var resources: [JSON.Member] = []
        if let pids = input.pidsLimit, pids > 0 {
            resources.append(JSON.Member("pids", ["limit": .int(pids)]))
        }
        let r = input.resources
        let memory = [("limit", r.memoryLimit), ("reservation", r.memoryReservation), ("swap", r.memorySwap)]
            .compactMap { key, value in value.map { JSON.Member(key, .int($0)) } }
        if !memory.isEmpty { resources.append(JSON.Member("memory", .object(memory))) }
        var cpu: [JSON.Member] = []
        if let shares = r.cpuShares { cpu.append(JSON.Member("shares", .uint(UInt64(max(shares, 0))))) }
        if let quota = r.cpuQuota { cpu.append(JSON.Member("quota", .int(quota))) }
        if let period = r.cpuPeriod { cpu.append(JSON.Member("period", .uint(UInt64(max(period, 0))))) }
        if !cpu.isEmpty { resources.append(JSON.Member("cpu", .object(cpu))) }
        if !resources.isEmpty { linux.append(JSON.Member("resources", .object(resources))) }
        if !input.selinuxMountLabel.isEmpty { linux.append(JSON.Member("mountLabel", .string(input.selinuxMountLabel))) }
        if let seccomp = input.seccomp { linux.append(JSON.Member("seccomp", seccomp)) }

        var members: [JSON.Member] = [
            JSON.Member("ociVersion", "1.1.0"),
            JSON.Member("process", .object(process)),
            JSON.Member("root", ["path": "rootfs", "readonly": .bool(input.readonlyRoot)]),
            JSON.Member("hostname", .string(input.utsHost ? "" : input.hostname)),
        ]
        if !input.domainname.isEmpty && !input.utsHost { members.append(JSON.Member("domainname", .string(input.domainname))) }
        members.append(JSON.Member("mounts", .array(mounts(input))))
        members.append(JSON.Member("linux", .object(linux)))
        if !input.annotations.isEmpty {
            members.append(JSON.Member("annotations", .object(input.annotations.keys.sorted().map {
                JSON.Member($0, .string(input.annotations[$0]!))
            })))
        }
        return .object(members)
    }

    /// The root overlay, the kernel file systems, the container's hostname/hosts/resolv.conf,
    /// then the user's mounts (in the order planned; a mount over /dev/shm replaces ours).
    static func mounts(_ input: ContainerSpecInput) -> [JSON] {
        let dir = input.containerDir
        let userDestinations = Set(input.mounts.map(\.destination))
        var overlay = ["lowerdir=" + input.lowerDirs.joined(separator: ":"),
                       "upperdir=" + dir + "/upper", "workdir=" + dir + "/work"]
        if input.lowerDirs.isEmpty { overlay[0] = "lowerdir=" + dir + "/empty" }
        if input.volatileRoot { overlay.append("volatile") }
        var result: [JSON] = [
            ["destination": "/", "type": "overlay", "source": "overlay", "options": JSON(overlay)],
        ]
        // Without a pid namespace of its own, a rootless container cannot mount a new proc: it binds the host's.
        if input.pidHost {
            result.append(["destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind", "nosuid", "noexec", "nodev"]])
        } else {
            result.append(["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]])
        }
        result += [
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
        ]
        if !userDestinations.contains("/dev/shm") {
            let size = "size=" + String(max(input.shmSize, 1) / 1024) + "k"
            result.append(["destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777", .string(size)]])
        }
        if !input.ipcHost {
            result.append(["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]])
        }
        let sysReadOnly: JSON = input.privileged ? "rw" : "ro"
        if input.networkMode == "host" && input.userNamespace {
            // sysfs needs a network namespace the user namespace owns: bind the host's.
            result.append(["destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", sysReadOnly]])
        } else {
            result.append(["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", sysReadOnly]])
        }
        for (file, destination) in [("hostname", "/etc/hostname"), ("hosts", "/etc/hosts"), ("resolv.conf", "/etc/resolv.conf")]
            where !userDestinations.contains(destination) {
            result.append(["destination": .string(destination), "type": "bind", "source": .string(dir + "/" + file),
                           "options": ["rbind", "rprivate"]])
        }
        if let initPath = input.initPath {
            result.append(["destination": .string(initDestination), "type": "bind", "source": .string(initPath),
                           "options": ["bind", "rprivate", "ro"]])
        }
        result += input.mounts.map(\.spec)
        return result
    }
}

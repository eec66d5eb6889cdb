import Config
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// What the service knows of the containers' cgroups: only whether the runtime gives them any
/// on this host and which manager (`Manager`), read from /sys/fs/cgroup (for `docker info`, the
/// create checks, pause). The runtime makes them (as root on cgroup v1:
/// `/sys/fs/cgroup/{pids,memory,freezer[,cpu]}/skiff/<id>`, see Runtime's `CgroupV1`; on cgroup
/// v2 `<base>/skiff/<id>`, Runtime's `CgroupV2`, docs/cgroups.md), freezes and thaws them and
/// removes them; the service asks it to (`OCIRuntimeClient`) and writes nothing there itself.
/// Without any (rootless on cgroup v1, or without a delegated cgroup2 subtree) limits are
/// recorded only, and pause stops the processes with SIGSTOP.
enum ContainerCgroups {
    static let root = "/sys/fs/cgroup"

    /// True when the runtime gives containers cgroups here: the service runs as root and the
    /// v1 hierarchies pids, memory and freezer are mounted (a `tasks` file is v1's).
    static func applied(isRootless: Bool, root: String = root) -> Bool {
        !isRootless && ["pids", "memory", "freezer"].allSatisfy { access(root + "/" + $0 + "/tasks", F_OK) == 0 }
    }

    /// The kernel accounts swap (memory.memsw.* exists).
    static func swapAccounted(root: String = root) -> Bool {
        access(root + "/memory/memory.memsw.limit_in_bytes", F_OK) == 0
    }

    static func hasCPU(root: String = root) -> Bool {
        access(root + "/cpu/tasks", F_OK) == 0
    }
}

extension ContainerCgroups {
    /// Who gives this service's containers cgroups (the runtime decides the same way:
    /// `CgroupHost`, and a monitor sits in the service's cgroup).
    enum Manager: Equatable {
        /// None on this host: rootless without a delegated cgroup2 subtree (cgroup v1, or a
        /// hybrid host's unified hierarchy not delegated to the user). Limits are recorded only.
        case none
        /// containers.conf `cgroups = "disabled"`: none is made, on any layout.
        case disabled
        /// As root on cgroup v1 or hybrid: one v1 hierarchy per controller (Runtime's CgroupV1).
        case v1
        /// cgroup v2 under `base` (Runtime's CgroupV2): the delegated subtree, the mount as root,
        /// or `SKIFF_CGROUP_PARENT`.
        case v2(base: String)
    }

    /// The annotation asking the runtime for no cgroups (Runtime's `Container.cgroupsAnnotation`).
    static let disabledAnnotation = "run.skiff.cgroups"

    /// The cgroup v2 base of this process, found once (`CgroupHost.v2Base`).
    static let v2Base: String? = CgroupHost.current.v2Base(
        isRoot: geteuid() == 0, configured: getenv(CgroupHost.parentVariable).map { String(cString: $0) })

    /// True unless the manager is cgroup v2 and its base does not offer `controller`: then
    /// containers.conf's defaults that need it (pids_limit) are left out, as Podman leaves them
    /// (a limit the request asks for is refused instead: `cgroupV2Resources`).
    static func offers(_ manager: Manager, _ controller: String) -> Bool {
        guard case .v2(let base) = manager else { return true }
        return CgroupHost.controllers(of: base).contains(controller)
    }

    static func manager(isRootless: Bool, disabled: Bool, v2Base: String? = ContainerCgroups.v2Base) -> Manager {
        if disabled { return .disabled }
        if let v2Base { return .v2(base: v2Base) }
        return applied(isRootless: isRootless) ? .v1 : .none
    }

    /// The name `docker info` shows as CgroupDriver: "systemd" where systemd makes them (cgroup
    /// v2, asked for and answering), "cgroupfs" where Skiff writes the tree, "none" where
    /// containers get no cgroups (as Docker's rootless on cgroup v1).
    static func driverName(_ manager: Manager, systemd: Bool = false) -> String {
        switch manager {
        case .v2 where systemd: return "systemd"
        case .v1, .v2: return "cgroupfs"
        case .none, .disabled: return "none"
        }
    }

    /// containers.conf `cgroup_manager = "systemd"` set in a file (Podman's built-in default is
    /// not counted: Skiff writes the tree itself unless asked).
    static func wantsSystemd(_ setting: Setting?) -> Bool {
        guard let setting, case .string(let value) = setting.value, value == "systemd", setting.origin != .builtin else {
            return false
        }
        return true
    }

    /// Where `cgroup_manager = "systemd"` is set but not used, why (a `docker info` warning):
    /// Skiff's systemd manager makes cgroup v2 scopes; on cgroup v1 it writes the tree itself,
    /// and without a delegated cgroup v2 subtree containers get no cgroups. Nil otherwise.
    static func systemdManagerProblem(_ setting: Setting?, manager: Manager) -> String? {
        guard wantsSystemd(setting), let setting else { return nil }
        switch manager {
        case .v1:
            return "cgroup_manager \"systemd\" (\(setting.origin)) is not used on cgroup v1: Skiff writes the v1 tree itself"
        case .none:
            return "cgroup_manager \"systemd\" (\(setting.origin)) is not used: containers get no cgroups here "
                + "(no delegated cgroup v2 subtree)"
        case .v2, .disabled:
            return nil
        }
    }

    /// On cgroup v2 with `cgroup_manager = "systemd"`: nil when systemd answers on the bus the
    /// runtime asks (the session bus rootless, the system bus as root), else Podman's warning
    /// for falling back to cgroupfs.
    static func systemdFallback(isRootless: Bool, address: String? = nil) -> String? {
        let address = address ?? DBusConnection.busAddress(system: !isRootless) ?? ""
        do {
            _ = try SystemdManager(address: address, milliseconds: 2000)
            return nil
        } catch {
            let which = isRootless ? "there is no systemd user session available" : "systemd does not answer on the system bus"
            return "The cgroupv2 manager is set to systemd but \(which) (\(error)); falling back to cgroupfs"
        }
    }

    /// The annotation asking the runtime for a systemd scope (Runtime's `SystemdScope.annotation`).
    static let systemdAnnotation = "run.skiff.cgroup-manager"
}

extension Engine {
    /// Who gives this engine's containers cgroups.
    var cgroupManager: ContainerCgroups.Manager {
        ContainerCgroups.manager(isRootless: isRootless, disabled: config["containers.cgroups"]?.value == .string("disabled"))
    }

    /// True when the runtime pauses this engine's containers with their cgroup (v1 freezer,
    /// v2 cgroup.freeze); else the service stops (and continues) their processes with signals.
    var pausesWithFreezer: Bool {
        switch cgroupManager {
        case .v1, .v2: return true
        case .none, .disabled: return false
        }
    }
}

extension ContainerPlanner {
    /// The limits as the bundle records them where nothing applies them (rootless): the values
    /// given, unchecked.
    static func recordedResources(_ host: CreateRequest.HostConfig) -> ContainerSpecInput.Resources {
        var r = ContainerSpecInput.Resources()
        if host.memory > 0 { r.memoryLimit = host.memory }
        if host.memoryReservation > 0 { r.memoryReservation = host.memoryReservation }
        if host.memorySwap != 0 { r.memorySwap = host.memorySwap }
        if host.cpuShares > 0 { r.cpuShares = host.cpuShares }
        if host.cpuQuota != 0 { r.cpuQuota = host.cpuQuota }
        if host.cpuPeriod > 0 { r.cpuPeriod = host.cpuPeriod }
        return r
    }

    /// As root on cgroup v1, where the runtime applies them: Docker's checks (its messages, 400)
    /// and defaults (memory+swap twice the memory when MemorySwap is 0; `NanoCpus` as a CFS
    /// quota per 100 ms); a warning names what is still only recorded (cpuset and blkio weight
    /// on cgroup v1; on v2, `v2Controllers` given, they are applied). The HostConfig itself
    /// keeps the values as given.
    static func cgroupResources(_ host: CreateRequest.HostConfig, warnings: [String], cgroupRoot: String = ContainerCgroups.root,
                                cpus: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                                v2Controllers: [String]? = nil, availableCpus: String = CpusetList.online(.cpus),
                                availableMems: String = CpusetList.online(.mems))
        throws -> (ContainerSpecInput.Resources, [String]) {
        var warnings = warnings
        // cgroup v2: swap is accounted where the memory controller is (memory.swap.max), cpu
        // limits need the cpu controller; one the delegation lacks is refused below.
        let swapAccounted = v2Controllers.map { $0.contains("memory") } ?? ContainerCgroups.swapAccounted(root: cgroupRoot)
        let hasCPU = v2Controllers.map { _ in true } ?? ContainerCgroups.hasCPU(root: cgroupRoot)
        let minimum: Int64 = 6 << 20
        func invalid(_ message: String) -> EngineError { EngineError(.invalidArgument, message) }
        if host.memory != 0 && host.memory < minimum { throw invalid("Minimum memory limit allowed is 6MB") }
        var swap = host.memorySwap
        if host.memory > 0 && swap != -1 && !swapAccounted {
            warnings.append("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
            swap = -1
        }
        if host.memory > 0 && swap > 0 && swap < host.memory {
            throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        if host.memory == 0 && swap > 0 {
            throw invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
        }
        if host.memoryReservation > 0 && host.memoryReservation < minimum {
            throw invalid("Minimum memory reservation allowed is 6MB")
        }
        if host.memory > 0 && host.memoryReservation > 0 && host.memory < host.memoryReservation {
            throw invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
        }
        if host.nanoCpus > 0 && host.cpuPeriod > 0 {
            throw invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        }
        if host.nanoCpus > 0 && host.cpuQuota > 0 {
            throw invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        }
        if host.nanoCpus < 0 || host.nanoCpus > Int64(cpus) * 1_000_000_000 {
            throw invalid("Range of CPUs is from 0.01 to \(cpus).00, as there are only \(cpus) CPUs available")
        }
        if host.cpuPeriod != 0 && (host.cpuPeriod < 1000 || host.cpuPeriod > 1_000_000) {
            throw invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
        }
        if host.cpuQuota > 0 && host.cpuQuota < 1000 {
            throw invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        }

        var r = ContainerSpecInput.Resources()
        if host.memory > 0 {
            r.memoryLimit = host.memory
            r.memorySwap = swap == 0 ? host.memory * 2 : swap
        }
        if host.memoryReservation > 0 { r.memoryReservation = host.memoryReservation }
        let wantsCPU = host.cpuShares > 0 || host.nanoCpus > 0 || host.cpuQuota != 0 || host.cpuPeriod > 0
        if wantsCPU && !hasCPU {
            warnings.append("Your kernel does not support CPU cfs period/quota or the cgroup is not mounted. Period and quota discarded.")
        } else if wantsCPU {
            if host.cpuShares > 0 { r.cpuShares = host.cpuShares }
            if host.nanoCpus > 0 {
                r.cpuPeriod = 100_000
                r.cpuQuota = host.nanoCpus * 100_000 / 1_000_000_000
            }
            if host.cpuQuota != 0 { r.cpuQuota = host.cpuQuota }
            if host.cpuPeriod > 0 { r.cpuPeriod = host.cpuPeriod }
        }
        try CpusetList.check(host.cpusetCpus, available: availableCpus, kind: .cpus)
        try CpusetList.check(host.cpusetMems, available: availableMems, kind: .mems)
        if host.blkioWeight > 0 && (host.blkioWeight < 10 || host.blkioWeight > 1000) {
            throw invalid("Range of blkio weight is from 10 to 1000")
        }
        var ignored: [String] = []
        if v2Controllers != nil {
            // cgroup v2: cpuset.cpus, cpuset.mems, io.weight (the controllers: cgroupV2Resources).
            if !host.cpusetCpus.isEmpty { r.cpusetCpus = host.cpusetCpus }
            if !host.cpusetMems.isEmpty { r.cpusetMems = host.cpusetMems }
            if host.blkioWeight > 0 { r.blkioWeight = UInt16(host.blkioWeight) }
        } else {
            // cgroup v1 (as root): cpuset where its hierarchy is mounted; the blkio weight where
            // the I/O scheduler has one (CFQ's blkio.weight, BFQ's blkio.bfq.weight).
            var reasons: [String] = []
            if !host.cpusetCpus.isEmpty || !host.cpusetMems.isEmpty {
                if access(cgroupRoot + "/cpuset/tasks", F_OK) == 0 {
                    if !host.cpusetCpus.isEmpty { r.cpusetCpus = host.cpusetCpus }
                    if !host.cpusetMems.isEmpty { r.cpusetMems = host.cpusetMems }
                } else {
                    if !host.cpusetCpus.isEmpty { ignored.append("CpusetCpus") }
                    if !host.cpusetMems.isEmpty { ignored.append("CpusetMems") }
                    reasons.append("no cpuset cgroup hierarchy is mounted")
                }
            }
            if host.blkioWeight != 0 {
                if ["blkio.weight", "blkio.bfq.weight"].contains(where: { access(cgroupRoot + "/blkio/" + $0, F_OK) == 0 }) {
                    r.blkioWeight = UInt16(host.blkioWeight)
                } else {
                    ignored.append("BlkioWeight")
                    reasons.append("the blkio hierarchy has no weight (the I/O scheduler has none)")
                }
            }
            if !ignored.isEmpty {
                warnings.append("Resource limits \(ignored.joined(separator: ", ")) are recorded but not applied: "
                                + reasons.joined(separator: "; "))
            }
        }
        return (r, warnings)
    }

    /// On cgroup v2 (`base`: where the runtime makes the container's cgroup): Docker's checks as
    /// on v1, then a limit whose controller `base` does not offer (not delegated, or not
    /// enabled on this host) is refused, naming it, as crun refuses it; never silently dropped.
    static func cgroupV2Resources(_ host: CreateRequest.HostConfig, pidsLimit: Int64?, warnings: [String], base: String,
                                  controllers: [String]) throws -> (ContainerSpecInput.Resources, [String]) {
        var needed: [(controller: String, option: String)] = []
        if (pidsLimit ?? 0) > 0 { needed.append(("pids", "--pids-limit")) }
        if host.memory > 0 { needed.append(("memory", "--memory")) }
        if host.memoryReservation > 0 { needed.append(("memory", "--memory-reservation")) }
        if host.memorySwap > 0 { needed.append(("memory", "--memory-swap")) }
        if host.nanoCpus > 0 { needed.append(("cpu", "--cpus")) }
        if host.cpuShares > 0 { needed.append(("cpu", "--cpu-shares")) }
        if host.cpuQuota != 0 || host.cpuPeriod > 0 { needed.append(("cpu", "--cpu-quota/--cpu-period")) }
        if !host.cpusetCpus.isEmpty { needed.append(("cpuset", "--cpuset-cpus")) }
        if !host.cpusetMems.isEmpty { needed.append(("cpuset", "--cpuset-mems")) }
        if host.blkioWeight > 0 { needed.append(("io", "--blkio-weight")) }
        let checked = try cgroupResources(host, warnings: warnings, v2Controllers: controllers)
        if let missing = needed.first(where: { !controllers.contains($0.controller) }) {
            let offered = controllers.isEmpty ? "none" : controllers.joined(separator: " ")
            throw EngineError(.invalidArgument, "\(missing.option) needs the \(missing.controller) cgroup controller, which is not "
                              + "delegated to \(base) (its cgroup.controllers: \(offered))")
        }
        return checked
    }
}

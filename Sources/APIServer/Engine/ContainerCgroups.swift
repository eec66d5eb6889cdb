import Platform

#if canImport(Glibc)
import Glibc
#endif

/// What the service knows of the containers' cgroups: only whether the runtime gives them any
/// on this host, read from /sys/fs/cgroup (for `docker info`, the create checks, pause). The
/// runtime makes them (as root on cgroup v1: `/sys/fs/cgroup/{pids,memory,freezer[,cpu]}/skiff/<id>`,
/// see Runtime's `CgroupV1`), freezes and thaws them and removes them; the service asks it to
/// (`OCIRuntimeClient`) and writes nothing there itself. Rootless there are none: limits are
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

extension Engine {
    /// True when the runtime pauses this engine's containers with their freezer cgroup; else
    /// the service stops (and continues) their processes with signals.
    var pausesWithFreezer: Bool { ContainerCgroups.applied(isRootless: isRootless) }
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
    /// quota per 100 ms); a warning names what is still only recorded. The HostConfig itself
    /// keeps the values as given.
    static func cgroupResources(_ host: CreateRequest.HostConfig, warnings: [String], cgroupRoot: String = ContainerCgroups.root,
                                cpus: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        throws -> (ContainerSpecInput.Resources, [String]) {
        var warnings = warnings
        let minimum: Int64 = 6 << 20
        func invalid(_ message: String) -> EngineError { EngineError(.invalidArgument, message) }
        if host.memory != 0 && host.memory < minimum { throw invalid("Minimum memory limit allowed is 6MB") }
        var swap = host.memorySwap
        if host.memory > 0 && swap != -1 && !ContainerCgroups.swapAccounted(root: cgroupRoot) {
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
        if wantsCPU && !ContainerCgroups.hasCPU(root: cgroupRoot) {
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
        var ignored: [String] = []
        if !host.cpusetCpus.isEmpty { ignored.append("CpusetCpus") }
        if !host.cpusetMems.isEmpty { ignored.append("CpusetMems") }
        if host.blkioWeight != 0 { ignored.append("BlkioWeight") }
        if !ignored.isEmpty {
            warnings.append("Resource limits \(ignored.joined(separator: ", ")) are recorded but not applied: "
                            + "Skiff applies only the pids, memory and cpu limits")
        }
        return (r, warnings)
    }
}

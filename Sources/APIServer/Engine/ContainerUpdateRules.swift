import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Docker's rules for `POST /containers/{id}/update`, without I/O: the checks of the request on
/// its own (moby's `verifyContainerSettings` in update mode, 400) and against the limits the
/// container has (moby's `Container.UpdateContainer`), and the merged limits.
enum ContainerUpdateRules {
    /// The limits a HostConfig records, as update changes them.
    struct Limits: Equatable {
        var memory: Int64 = 0
        var memorySwap: Int64 = 0
        var memoryReservation: Int64 = 0
        var cpuShares: Int64 = 0
        var cpuPeriod: Int64 = 0
        var cpuQuota: Int64 = 0
        var nanoCpus: Int64 = 0
        var cpusetCpus = ""
        var cpusetMems = ""
        var blkioWeight: Int64 = 0
        var pidsLimit: Int64?
        var restartPolicy = CreateRequest.RestartPolicy()

        init() {}

        init(_ host: JSON) {
            func int(_ key: String) -> Int64 { if case .int(let n)? = host[key] { return n }; return 0 }
            func string(_ key: String) -> String { if case .string(let s)? = host[key] { return s }; return "" }
            memory = int("Memory")
            memorySwap = int("MemorySwap")
            memoryReservation = int("MemoryReservation")
            cpuShares = int("CpuShares")
            cpuPeriod = int("CpuPeriod")
            cpuQuota = int("CpuQuota")
            nanoCpus = int("NanoCpus")
            cpusetCpus = string("CpusetCpus")
            cpusetMems = string("CpusetMems")
            blkioWeight = int("BlkioWeight")
            if case .int(let n)? = host["PidsLimit"] { pidsLimit = n }
            if case .string(let name)? = host["RestartPolicy"]?["Name"] { restartPolicy.name = name }
            if case .int(let n)? = host["RestartPolicy"]?["MaximumRetryCount"] { restartPolicy.maximumRetryCount = Int(n) }
        }

        /// The same limits as a create request's HostConfig (for the create-time planners).
        var hostConfig: CreateRequest.HostConfig {
            var h = CreateRequest.HostConfig()
            h.memory = memory
            h.memorySwap = memorySwap
            h.memoryReservation = memoryReservation
            h.cpuShares = cpuShares
            h.cpuPeriod = cpuPeriod
            h.cpuQuota = cpuQuota
            h.nanoCpus = nanoCpus
            h.cpusetCpus = cpusetCpus
            h.cpusetMems = cpusetMems
            h.blkioWeight = blkioWeight
            h.pidsLimit = pidsLimit
            return h
        }

        /// `host` with these limits and restart policy.
        func apply(to host: JSON) -> JSON {
            var h = host
            h.set("Memory", .int(memory))
            h.set("MemorySwap", .int(memorySwap))
            h.set("MemoryReservation", .int(memoryReservation))
            h.set("CpuShares", .int(cpuShares))
            h.set("CpuPeriod", .int(cpuPeriod))
            h.set("CpuQuota", .int(cpuQuota))
            h.set("NanoCpus", .int(nanoCpus))
            h.set("CpusetCpus", .string(cpusetCpus))
            h.set("CpusetMems", .string(cpusetMems))
            h.set("BlkioWeight", .int(blkioWeight))
            h.set("PidsLimit", pidsLimit.map { .int($0) } ?? .null)
            h.set("RestartPolicy", .object([JSON.Member("Name", .string(restartPolicy.name)),
                                            JSON.Member("MaximumRetryCount", .int(Int64(restartPolicy.maximumRetryCount)))]))
            return h
        }
    }

    /// The request on its own: Docker's 400s (messages as moby's), and its warnings.
    static func verify(_ u: UpdateRequest, cpus: Int) throws -> [String] {
        func invalid(_ message: String) -> EngineError { EngineError(.invalidArgument, message) }
        let minimum: Int64 = 6 << 20
        if let policy = u.restartPolicy, !policy.name.isEmpty {
            try ContainerValidation.checkRestartPolicy(policy, autoRemove: false)
        }
        if u.memory != 0 && u.memory < minimum { throw invalid("Minimum memory limit allowed is 6MB") }
        if u.memory > 0 && u.memorySwap > 0 && u.memorySwap < u.memory {
            throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        if u.memoryReservation != 0 && u.memoryReservation < minimum {
            throw invalid("Minimum memory reservation allowed is 6MB")
        }
        if u.memory > 0 && u.memoryReservation > 0 && u.memory < u.memoryReservation {
            throw invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
        }
        if u.kernelMemory != 0 { throw invalid("Kernel memory limit is not supported: Skiff does not set kernel memory limits") }
        if u.nanoCpus > 0 && u.cpuPeriod > 0 { throw invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set") }
        if u.nanoCpus > 0 && u.cpuQuota > 0 { throw invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set") }
        if u.nanoCpus < 0 || u.nanoCpus > Int64(cpus) * 1_000_000_000 {
            throw invalid("Range of CPUs is from 0.01 to \(cpus).00, as there are only \(cpus) CPUs available")
        }
        if u.cpuPeriod != 0 && (u.cpuPeriod < 1000 || u.cpuPeriod > 1_000_000) {
            throw invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
        }
        if u.cpuQuota > 0 && u.cpuQuota < 1000 { throw invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)") }
        if u.cpuShares < 0 { throw invalid("invalid CPU shares (\(u.cpuShares)): value must be a positive integer") }
        try CpusetList.check(u.cpusetCpus, available: CpusetList.online(.cpus), kind: .cpus)
        try CpusetList.check(u.cpusetMems, available: CpusetList.online(.mems), kind: .mems)
        if u.blkioWeight > 0 && (u.blkioWeight < 10 || u.blkioWeight > 1000) {
            throw invalid("Range of blkio weight is from 10 to 1000")
        }
        return []
    }

    /// moby's `UpdateContainer`: merges the changes into `values`, or the reason it may not
    /// (the caller prefixes `Cannot update container ID: `).
    static func merge(_ u: UpdateRequest, into values: inout Limits, autoRemove: Bool) -> Result<Void, EngineError> {
        // NanoCpus sets period and quota itself: one may not change what the other set.
        if u.nanoCpus > 0 && values.cpuPeriod > 0 {
            return .failure(EngineError(.conflict, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"))
        }
        if u.nanoCpus > 0 && values.cpuQuota > 0 {
            return .failure(EngineError(.conflict, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"))
        }
        if u.cpuPeriod > 0 && values.nanoCpus > 0 {
            return .failure(EngineError(.conflict, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"))
        }
        if u.cpuQuota > 0 && values.nanoCpus > 0 {
            return .failure(EngineError(.conflict, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"))
        }
        if u.memory != 0 && values.memorySwap > 0 && u.memory > values.memorySwap && u.memorySwap == 0 {
            return .failure(EngineError(.invalidArgument,
                                        "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"))
        }
        let newMemory = u.memory != 0 ? u.memory : values.memory
        let newSwap = u.memorySwap != 0 ? u.memorySwap : values.memorySwap
        if newMemory > 0 && newSwap > 0 && newSwap < newMemory {
            return .failure(EngineError(.invalidArgument, "Minimum memoryswap limit should be larger than memory limit, see usage"))
        }
        if let policy = u.restartPolicy, !policy.name.isEmpty, policy.name != "no", autoRemove {
            return .failure(EngineError(.invalidArgument, "Restart policy cannot be updated because AutoRemove is enabled for the container"))
        }
        if u.blkioWeight != 0 { values.blkioWeight = u.blkioWeight }
        if u.cpuShares != 0 { values.cpuShares = u.cpuShares }
        if u.nanoCpus != 0 { values.nanoCpus = u.nanoCpus }
        if u.cpuPeriod != 0 { values.cpuPeriod = u.cpuPeriod }
        if u.cpuQuota != 0 { values.cpuQuota = u.cpuQuota }
        if !u.cpusetCpus.isEmpty { values.cpusetCpus = u.cpusetCpus }
        if !u.cpusetMems.isEmpty { values.cpusetMems = u.cpusetMems }
        if u.memory != 0 { values.memory = u.memory }
        if u.memorySwap != 0 { values.memorySwap = u.memorySwap }
        if u.memoryReservation != 0 { values.memoryReservation = u.memoryReservation }
        if let pids = u.pidsLimit { values.pidsLimit = pids }
        if let policy = u.restartPolicy, !policy.name.isEmpty { values.restartPolicy = policy }
        return .success(())
    }

    /// The runtime's flags for the changed families of limits, with Docker's defaults applied
    /// (memory+swap twice the memory when none was set; NanoCpus as a quota per 100 ms).
    static func runtimeFlags(_ u: UpdateRequest, _ values: Limits) throws -> [String] {
        var flags: [String] = []
        if let pids = u.pidsLimit { flags += ["--pids-limit", String(pids > 0 ? pids : -1)] }
        if u.changesMemory {
            if values.memory > 0 {
                flags += ["--memory", String(values.memory)]
                let swap = values.memorySwap == 0 ? values.memory * 2 : values.memorySwap
                if ContainerCgroups.swapAccounted() { flags += ["--memory-swap", String(swap)] }
            } else if u.memorySwap == -1 && ContainerCgroups.swapAccounted() {
                flags += ["--memory-swap", "-1"]
            }
            if values.memoryReservation > 0 { flags += ["--memory-reservation", String(values.memoryReservation)] }
        }
        if u.changesCPU {
            if values.cpuShares > 0 { flags += ["--cpu-shares", String(values.cpuShares)] }
            if values.nanoCpus > 0 {
                flags += ["--cpu-period", "100000", "--cpu-quota", String(values.nanoCpus * 100_000 / 1_000_000_000)]
            } else {
                if values.cpuPeriod > 0 { flags += ["--cpu-period", String(values.cpuPeriod)] }
                if values.cpuQuota != 0 { flags += ["--cpu-quota", String(values.cpuQuota)] }
            }
        }
        if !u.cpusetCpus.isEmpty { flags += ["--cpuset-cpus", u.cpusetCpus] }
        if !u.cpusetMems.isEmpty { flags += ["--cpuset-mems", u.cpusetMems] }
        if u.blkioWeight > 0 { flags += ["--blkio-weight", String(u.blkioWeight)] }
        return flags
    }
}

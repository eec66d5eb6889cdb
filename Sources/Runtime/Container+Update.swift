import OCI
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `update`: new limits for a running (or paused) container's cgroups, as runc's `update`
/// writes them. Only the cgroups the container was created with are written: without cgroups
/// (rootless) or without the controller a limit needs (a container started without a cpu
/// limit has no cpu cgroup), nothing is written and the error says why.
extension Container {
    public func update(_ resources: Spec.Resources) throws {
        let state = try directory.read(id: id)
        if let cgroup = CgroupV2(recorded: state.cgroups) {
            try update(resources, cgroupV2: cgroup, state: state)
            return
        }
        guard let cgroups = CgroupV1(recorded: state.cgroups) else {
            throw RuntimeError(.unsupported, "update \(id): the container has no cgroups (created rootless, "
                                             + "or without cgroup v1 hierarchies): its limits cannot change while it runs")
        }
        let current = status(of: state)
        guard current == .running || current == .created else {
            throw RuntimeError(.invalidState, "cannot update container \"\(id)\": it is \(current.rawValue)")
        }
        let writes = try CgroupV1.updateWrites(resources, cgroups: cgroups, context: "update \(id)")
        for write in writes {
            guard let directory = cgroups.path(write.controller) else { continue }
            do {
                try CgroupV1.write(directory + "/" + write.file, write.value, controller: write.controller,
                                   context: "update \(id)", create: cgroups.emulated)
            } catch let error as RuntimeError where error.errno == EBUSY && write.file == "memory.limit_in_bytes" {
                // The kernel could not reclaim enough to fit below the new limit (runc's message).
                let usage = CgroupV1.read(directory + "/memory.usage_in_bytes") ?? "?"
                let peak = CgroupV1.read(directory + "/memory.max_usage_in_bytes") ?? "?"
                throw RuntimeError(.invalidArgument, "update \(id): unable to set memory limit to \(write.value) "
                                                     + "(current usage: \(usage), peak usage: \(peak))", errno: EBUSY)
            } catch let error as RuntimeError where error.errno == EINVAL {
                throw RuntimeError(.invalidArgument, error.message, errno: EINVAL)
            }
        }
    }
}

extension Container {
    /// `update` on cgroup v2: the limits as create writes them (`CgroupV2.limits`); a
    /// controller the cgroup lacks (not delegated) is refused before anything is written.
    func update(_ resources: Spec.Resources, cgroupV2 cgroup: CgroupV2, state: ContainerState) throws {
        let current = status(of: state)
        guard current == .running || current == .created else {
            throw RuntimeError(.invalidState, "cannot update container \"\(id)\": it is \(current.rawValue)")
        }
        let writes = CgroupV2.limits(resources)
        let available = CgroupHost.controllers(of: cgroup.path)
        if let missing = writes.first(where: { !available.contains($0.controller) }) {
            throw RuntimeError(.unsupported, "update \(id): cgroup \(cgroup.path): the \(missing.controller) controller is not "
                                             + "delegated (cgroup.controllers: \"\(available.joined(separator: " "))\"): "
                                             + "\(missing.file) cannot be applied")
        }
        for write in writes {
            do {
                let (file, value) = write.resolved(in: cgroup.path)
                try CgroupV2.write(cgroup.path + "/" + file, value, context: "update \(id)", create: cgroup.emulated)
            } catch let error as RuntimeError where error.errno == EINVAL || error.errno == EBUSY {
                throw RuntimeError(.invalidArgument, error.message, errno: error.errno)
            }
        }
    }
}

extension CgroupV1 {
    /// The files `update` writes, in a safe order: memory+swap before memory when the new memory
    /// limit is above the current memory+swap limit (the kernel keeps memsw >= memory), after it
    /// otherwise. A limit whose controller the container lacks is an `.unsupported` error.
    static func updateWrites(_ r: Spec.Resources, cgroups: CgroupV1, context: String) throws -> [Write] {
        func need(_ controller: String, _ what: String) throws {
            guard cgroups.path(controller) != nil else {
                throw RuntimeError(.unsupported, "\(context): the container has no \(controller) cgroup: its \(what) cannot change "
                                                 + "while it runs (it was started without one)")
            }
        }
        if r.cpusetCpus != nil || r.cpusetMems != nil || r.blkioWeight != nil {
            throw RuntimeError(.unsupported, "\(context): cpuset and blkio weight are not applied on cgroup v1: "
                                             + "they cannot change while it runs")
        }
        var writes: [Write] = []
        if let limit = r.pidsLimit, limit != 0 {
            try need("pids", "pids limit")
            writes.append(Write(controller: "pids", file: "pids.max", value: limit > 0 ? String(limit) : "max"))
        }
        var memory: [Write] = []
        if let limit = r.memoryLimit, limit != 0 {
            memory.append(Write(controller: "memory", file: "memory.limit_in_bytes", value: String(limit)))
        }
        if let swap = r.memorySwap, swap != 0 {
            let swapWrite = Write(controller: "memory", file: "memory.memsw.limit_in_bytes", value: String(swap))
            let memsw = cgroups.path("memory").flatMap { CgroupV1.read($0 + "/memory.memsw.limit_in_bytes") }.flatMap { Int64($0) }
            let newMemory = r.memoryLimit ?? 0
            if let memsw, newMemory == -1 || (newMemory > 0 && newMemory > memsw) || swap == -1 {
                memory.insert(swapWrite, at: 0)
            } else {
                memory.append(swapWrite)
            }
        }
        if let reservation = r.memoryReservation, reservation != 0 {
            memory.append(Write(controller: "memory", file: "memory.soft_limit_in_bytes", value: String(reservation)))
        }
        if !memory.isEmpty { try need("memory", "memory limits") }
        writes += memory
        let cpu: [Write] = [
            r.cpuShares.flatMap { $0 == 0 ? nil : Write(controller: "cpu", file: "cpu.shares", value: String($0)) },
            r.cpuPeriod.flatMap { $0 == 0 ? nil : Write(controller: "cpu", file: "cpu.cfs_period_us", value: String($0)) },
            r.cpuQuota.flatMap { $0 == 0 ? nil : Write(controller: "cpu", file: "cpu.cfs_quota_us", value: String($0)) },
        ].compactMap { $0 }
        if !cpu.isEmpty { try need("cpu", "cpu limits") }
        return writes + cpu
    }
}

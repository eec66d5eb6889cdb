import OCI
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `POST /containers/{id}/update` (moby's `ContainerUpdate`): new limits and restart policy,
/// recorded in the container's HostConfig (inspect shows them) and in its bundle's config.json
/// (the next start applies them), and, on a running container with cgroups (as root on cgroup
/// v1), written into its cgroups by the runtime (`skiff-runtime update`). A limit that cannot
/// reach a running container (rootless: no cgroups here; no cpu cgroup; cpuset and blkio on
/// cgroup v1, where Skiff does not apply them; a controller cgroup v2 does not delegate) is refused and nothing changes. The restart policy needs no message to
/// the running container's monitor: it reads the policy from the Store when the process ends
/// (`Monitor.recordExit`), so the change holds across its hand-overs to skiff-relay.
extension Engine {
    /// Returns Docker's `Warnings`.
    func updateContainer(id: String, update u: UpdateRequest) throws -> [String] {
        var warnings = try ContainerUpdateRules.verify(u, cpus: hostInfo.cpus)
        let record = try currentContainer(id)
        func cannot(_ code: EngineError.Code, _ message: String) -> EngineError {
            EngineError(code, "Cannot update container \(record.id): \(message)")
        }
        if record.state == .removing || record.state == .dead {
            throw cannot(.conflict, "container is marked for removal and cannot be \"update\"")
        }
        let stored = try StoredContainer(record)
        let host = stored.hostConfig
        var values = ContainerUpdateRules.Limits(host)
        try ContainerUpdateRules.merge(u, into: &values, autoRemove: stored.autoRemove).mapError { cannot($0.code, $0.message) }.get()

        let manager = cgroupManager
        var v2Base: String?
        if case .v2(let base) = manager { v2Base = base }
        let applies = manager == .v1 || v2Base != nil
        let running = ContainerStatsSource.runs(record)
        var flags: [String] = []
        if u.changesResources && running {
            guard applies else {
                throw cannot(.conflict, "its limits cannot change while it runs: rootless Skiff has no cgroups it may write on "
                                        + "this host, so the container has none (stop it to record new limits)")
            }
            // cgroup v1: Skiff's v1 cgroups have no cpuset or blkio hierarchy.
            var fixed: [String] = []
            if v2Base == nil && !u.cpusetCpus.isEmpty { fixed.append("CpusetCpus") }
            if v2Base == nil && !u.cpusetMems.isEmpty { fixed.append("CpusetMems") }
            if v2Base == nil && u.blkioWeight != 0 { fixed.append("BlkioWeight") }
            if !fixed.isEmpty {
                throw cannot(.conflict, "\(fixed.joined(separator: ", ")) cannot change while it runs: "
                                        + "Skiff applies only the pids, memory and cpu limits")
            }
            let own = ResourceReader(hostMemory: 0).ownCgroups(pid: record.pid, monitorPID: record.monitorPID)
            if v2Base == nil && u.changesCPU && own["cpu"] == nil {
                throw cannot(.conflict, "its cpu limits cannot change while it runs: it was started without a cpu limit, "
                                        + "so it has no cpu cgroup (stop it to record new cpu limits)")
            }
            flags = try ContainerUpdateRules.runtimeFlags(u, values)
        }

        // The next start's limits: the bundle's linux.resources.
        var resources: ContainerSpecInput.Resources
        if let v2Base {
            (resources, warnings) = try ContainerPlanner.cgroupV2Resources(
                values.hostConfig, pidsLimit: u.pidsLimit, warnings: warnings, base: v2Base,
                controllers: CgroupHost.controllers(of: v2Base))
        } else if applies {
            (resources, warnings) = try ContainerPlanner.cgroupResources(values.hostConfig, warnings: warnings)
        } else {
            resources = ContainerPlanner.recordedResources(values.hostConfig)
            if u.changesResources {
                warnings.append("Resource limits are recorded but not applied: Skiff does not manage cgroups")
            }
        }
        if !flags.isEmpty {
            do {
                try runtime.update(record.id, flags: flags)
            } catch let error as EngineError {
                throw cannot(error.code == .invalidArgument ? .invalidArgument : .internal, error.message)
            }
        }
        if u.changesResources {
            try rewriteBundleResources(stored.bundle, resources, pidsLimit: u.pidsLimit, id: record.id)
        }
        var json = stored.json
        json.set("HostConfig", values.apply(to: host))
        let bytes = json.bytes
        try withStore { store in
            _ = try store.updateContainer(record.id) { $0.config = bytes }
            _ = try store.addEvent(type: "container", action: "update", actorID: record.id,
                                   attributes: ContainerLifecycle.eventAttributes(record))
        }
        return warnings
    }

    /// Sets `linux.resources` of the bundle's config.json (written again atomically, same mode).
    /// `pidsLimit`: the update's (0 or less: none); nil keeps the bundle's, which may be the
    /// engine's default (`pids_limit` in the configuration) rather than the container's own.
    private func rewriteBundleResources(_ bundle: String, _ r: ContainerSpecInput.Resources, pidsLimit: Int64?,
                                        id: String) throws {
        let path = bundle + "/config.json"
        var spec: Spec
        var info = stat()
        do {
            spec = try Spec.decode(try FileSystem.readFile(path), source: path)
        } catch {
            throw EngineError(.internal, "update \(id): reading \(path): \(error)")
        }
        let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o600
        var linux = spec.linux ?? Spec.Linux()
        let pids = pidsLimit.map { $0 > 0 ? $0 : nil } ?? linux.resources?.pidsLimit
        linux.resources = Spec.Resources(
            pidsLimit: pids, memoryLimit: r.memoryLimit, memoryReservation: r.memoryReservation,
            memorySwap: r.memorySwap, cpuShares: r.cpuShares.map { UInt64(max(0, $0)) }, cpuQuota: r.cpuQuota,
            cpuPeriod: r.cpuPeriod.map { UInt64(max(0, $0)) }, cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems,
            blkioWeight: r.blkioWeight)
        spec.linux = linux
        do {
            try FileSystem.writeAtomically(path, spec.bytes, mode: mode)
        } catch {
            throw EngineError(.internal, "update \(id): writing \(path): \(error)")
        }
    }
}

extension JSON {
    /// Replaces (or adds) an object's member.
    mutating func set(_ key: String, _ value: JSON) {
        guard case .object(var members) = self else { return }
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index] = JSON.Member(key, value)
        } else {
            members.append(JSON.Member(key, value))
        }
        self = .object(members)
    }
}

import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The container's cgroups (as root on cgroup v1; see `CgroupV1`), for the monitor and the
/// command line. Every method reads the cgroups recorded in state.json at create: a container
/// created rootless, or on a host without the v1 hierarchies, has none.
extension Container {
    /// True when the container was created with cgroups (limits applied, freezer, OOM count).
    public var usesCgroups: Bool {
        (try? directory.read(id: id)).flatMap { CgroupV1(recorded: $0.cgroups) } != nil
    }

    /// True when the kernel's OOM killer killed a process of the container (any process, as
    /// Docker reports it): the `oom_kill` count of its memory cgroup's `memory.oom_control`.
    /// Ask after the container's process has ended and before `removeState()`/`removeCgroups()`
    /// (they remove the cgroup and its count). False without cgroups.
    public func cgroupOOMKilled() -> Bool {
        guard let state = try? directory.read(id: id), let cgroups = CgroupV1(recorded: state.cgroups) else {
            return false
        }
        return cgroups.oomKilled
    }

    /// Removes the container's cgroup directories, retrying briefly while the kernel still
    /// counts processes in them; processes still there after that (a container without a pid
    /// namespace of its own can leave some) are killed. Nothing to do without cgroups or when
    /// they are already gone. `removeState()` and `delete(force:)` call this too.
    public func removeCgroups() throws {
        guard let state = try? directory.read(id: id) else {
            try removeDefaultCgroups(context: "delete \(id)")
            return
        }
        try removeCgroups(of: state, context: "delete \(id)")
    }

    /// Freezes every process of the running container (`freezer.state` FROZEN) and returns once
    /// the kernel reports them frozen. Throws `.unsupported` without cgroups (rootless: stop the
    /// processes with SIGSTOP instead).
    public func freeze() throws {
        let cgroups = try runningCgroups(verb: "pause")
        try cgroups.freeze(context: "pause \(id)")
    }

    /// Thaws a frozen container (`freezer.state` THAWED).
    public func thaw() throws {
        let cgroups = try runningCgroups(verb: "resume")
        try cgroups.thaw(context: "resume \(id)")
    }

    /// True when the container's freezer cgroup is FROZEN (or FREEZING).
    public var isFrozen: Bool {
        guard let state = try? directory.read(id: id), let cgroups = CgroupV1(recorded: state.cgroups),
              let freezer = cgroups.freezerState else { return false }
        return freezer != "THAWED"
    }

    /// `{"paths":{controller:dir},"oomKilled":BOOL,"freezer":"THAWED"}` (`{}` without cgroups),
    /// for `skiff-runtime cgroups ID`.
    public func cgroupReport() throws -> JSON {
        let state = try directory.read(id: id)
        guard let cgroups = CgroupV1(recorded: state.cgroups) else { return .object([]) }
        return .object([
            JSON.Member("paths", .object(cgroups.directories.map { JSON.Member($0.controller, JSON($0.path)) })),
            JSON.Member("oomKilled", .bool(cgroups.oomKilled)),
            JSON.Member("freezer", cgroups.freezerState.map { JSON($0) } ?? .null),
        ])
    }

    // MARK: - internal

    private func runningCgroups(verb: String) throws -> CgroupV1 {
        let state = try directory.read(id: id)
        guard let cgroups = CgroupV1(recorded: state.cgroups) else {
            throw RuntimeError(.unsupported, "\(verb) \(id): the container has no cgroups (created rootless, "
                                             + "or without cgroup v1 hierarchies)")
        }
        let current = status(of: state)
        guard current == .running || current == .created else {
            throw RuntimeError(.invalidState, "cannot \(verb) container \"\(id)\": it is \(current.rawValue)")
        }
        return cgroups
    }

    func removeCgroups(of state: ContainerState, context: String) throws {
        guard let cgroups = CgroupV1(recorded: state.cgroups) else { return }
        let left = cgroups.remove()
        guard left.isEmpty else {
            throw RuntimeError(.system, "\(context): cgroup: \(left.joined(separator: "; "))")
        }
    }

    /// Without a readable state: the directories a container of this id gets by default, as root.
    func removeDefaultCgroups(context: String) throws {
        guard geteuid() == 0, CgroupV1.available(root: cgroupRoot) else { return }
        let cgroups = CgroupV1(directories: CgroupV1.known.map {
            CgroupV1.Directory(controller: $0, path: "\(cgroupRoot)/\($0)/skiff/\(id)")
        }, emulated: cgroupRoot != CgroupV1.defaultRoot)
        let left = cgroups.remove(milliseconds: 500)
        guard left.isEmpty else {
            throw RuntimeError(.system, "\(context): cgroup: \(left.joined(separator: "; "))")
        }
    }
}

import OCI
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
        guard let state = try? directory.read(id: id) else { return false }
        return CgroupV1(recorded: state.cgroups) != nil || CgroupV2(recorded: state.cgroups) != nil
    }

    /// True when the kernel's OOM killer killed a process of the container (any process, as
    /// Docker reports it): the `oom_kill` count of its memory cgroup's `memory.oom_control`.
    /// Ask after the container's process has ended and before `removeState()`/`removeCgroups()`
    /// (they remove the cgroup and its count). False without cgroups.
    public func cgroupOOMKilled() -> Bool {
        guard let state = try? directory.read(id: id) else { return false }
        if let cgroup = CgroupV2(recorded: state.cgroups) { return cgroup.oomKilled }
        return CgroupV1(recorded: state.cgroups)?.oomKilled ?? false
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
        if let cgroup = try runningCgroupV2(verb: "pause") {
            try cgroup.freeze(context: "pause \(id)")
            return
        }
        let cgroups = try runningCgroups(verb: "pause")
        try cgroups.freeze(context: "pause \(id)")
    }

    /// Thaws a frozen container (`freezer.state` THAWED).
    public func thaw() throws {
        if let cgroup = try runningCgroupV2(verb: "resume") {
            try cgroup.thaw(context: "resume \(id)")
            return
        }
        let cgroups = try runningCgroups(verb: "resume")
        try cgroups.thaw(context: "resume \(id)")
    }

    /// True when the container's freezer cgroup is FROZEN (or FREEZING).
    public var isFrozen: Bool {
        if let state = try? directory.read(id: id), let cgroup = CgroupV2(recorded: state.cgroups) { return cgroup.isFrozen }
        guard let state = try? directory.read(id: id), let cgroups = CgroupV1(recorded: state.cgroups),
              let freezer = cgroups.freezerState else { return false }
        return freezer != "THAWED"
    }

    /// `{"paths":{controller:dir},"oomKilled":BOOL,"freezer":"THAWED"}` (`{}` without cgroups),
    /// for `skiff-runtime cgroups ID`.
    public func cgroupReport() throws -> JSON {
        let state = try directory.read(id: id)
        if let cgroup = CgroupV2(recorded: state.cgroups) {
            return .object([
                JSON.Member("paths", .object([JSON.Member(CgroupV2.recordKey, JSON(cgroup.path))])),
                JSON.Member("oomKilled", .bool(cgroup.oomKilled)),
                JSON.Member("freezer", JSON(cgroup.isFrozen ? "FROZEN" : "THAWED")),
                JSON.Member("pids", .array(cgroup.processes.map { JSON.int(Int64($0)) })),
            ])
        }
        guard let cgroups = CgroupV1(recorded: state.cgroups) else { return .object([]) }
        return .object([
            JSON.Member("paths", .object(cgroups.directories.map { JSON.Member($0.controller, JSON($0.path)) })),
            JSON.Member("oomKilled", .bool(cgroups.oomKilled)),
            JSON.Member("freezer", cgroups.freezerState.map { JSON($0) } ?? .null),
        ])
    }

    // MARK: - internal

    /// The container's cgroup v2 cgroup when it has one (nil: none, or v1's), checked running.
    private func runningCgroupV2(verb: String) throws -> CgroupV2? {
        let state = try directory.read(id: id)
        guard let cgroup = CgroupV2(recorded: state.cgroups) else { return nil }
        let current = status(of: state)
        guard current == .running || current == .created else {
            throw RuntimeError(.invalidState, "cannot \(verb) container \"\(id)\": it is \(current.rawValue)")
        }
        return cgroup
    }

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
        if let cgroup = CgroupV2(recorded: state.cgroups) {
            let left = cgroup.remove()
            guard left.isEmpty else { throw RuntimeError(.system, "\(context): cgroup: \(left.joined(separator: "; "))") }
            return
        }
        guard let cgroups = CgroupV1(recorded: state.cgroups) else { return }
        let left = cgroups.remove()
        guard left.isEmpty else {
            throw RuntimeError(.system, "\(context): cgroup: \(left.joined(separator: "; "))")
        }
    }

    /// Without a readable state: the directories a container of this id gets by default, as root.
    func removeDefaultCgroups(context: String) throws {
        if let base = v2Base() {
            let left = CgroupV2(base: base, path: base + "/skiff/" + id, emulated: !CgroupV2.isCgroupFS(base)).remove(milliseconds: 500)
            guard left.isEmpty else { throw RuntimeError(.system, "\(context): cgroup: \(left.joined(separator: "; "))") }
            return
        }
        guard geteuid() == 0, CgroupV1.available(root: cgroupRoot) else { return }
        let cgroups = CgroupV1(directories: CgroupV1.known.map {
            CgroupV1.Directory(controller: $0, path: "\(cgroupRoot)/\($0)/skiff/\(id)")
        }, emulated: cgroupRoot != CgroupV1.defaultRoot)
        let left = cgroups.remove(milliseconds: 500)
        guard left.isEmpty else {
            throw RuntimeError(.system, "\(context): cgroup: \(left.joined(separator: "; "))")
        }
    }

    // MARK: - cgroup v2

    /// The annotation with which the service asks for no cgroups (containers.conf
    /// `cgroups = "disabled"`): none is made, on any layout.
    public static let cgroupsAnnotation = "run.skiff.cgroups"

    static func cgroupsDisabled(_ spec: Spec) -> Bool {
        spec.annotations?[cgroupsAnnotation] == "disabled"
    }

    /// Where this container's cgroup v2 cgroup goes (nil: not v2 here; see `CgroupHost.v2Base`).
    func v2Base() -> String? {
        if let cgroupV2Base { return cgroupV2Base }
        guard cgroupRoot == CgroupV1.defaultRoot else { return nil }
        let configured = getenv(CgroupHost.parentVariable).map { String(cString: $0) }
        return CgroupHost.current.v2Base(isRoot: geteuid() == 0, configured: configured)
    }

    /// The container's cgroup v2 cgroup, or nil when it gets none on the unified hierarchy
    /// (cgroups disabled; a v1 host; root on a hybrid host, where v1 keeps them).
    func planCgroupV2(spec: Spec, warn: (String) -> Void = { _ in }) throws -> CgroupV2? {
        guard !Container.cgroupsDisabled(spec), let base = v2Base() else { return nil }
        var plan = try CgroupV2.plan(id: id, resources: spec.linux?.resources, cgroupsPath: spec.linux?.cgroupsPath,
                                     base: base, emulated: !CgroupV2.isCgroupFS(base))
        if spec.annotations?[SystemdScope.annotation] == "systemd", !plan.emulated {
            // systemd's manager (Podman's cgroup_manager = "systemd"): a transient scope in the
            // user's manager rootless, the system's as root; when no systemd answers on the
            // bus, the tree is written directly (cgroupfs), with a warning, as Podman falls back.
            let root = geteuid() == 0
            let slice = root ? "machine.slice" : "user.slice"
            let address = DBusConnection.busAddress(system: root) ?? ""
            do {
                _ = try SystemdManager(address: address, milliseconds: 2000)
                plan.scope = SystemdScope(unit: SystemdScope.unitName(id: id), slice: slice, bus: address,
                                          resources: spec.linux?.resources ?? Spec.Resources())
                plan.path = base + "/" + SystemdScope.sliceDirectory(slice) + "/" + SystemdScope.unitName(id: id)
                plan.replaceExisting = false
            } catch {
                warn("cgroup_manager \"systemd\": no systemd answers on the \(root ? "system" : "session") bus "
                     + "(\(error)); falling back to cgroupfs")
            }
        }
        return plan
    }
}

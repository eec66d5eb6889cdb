import CRuntime
import OCI
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A container's cgroup on the unified hierarchy (cgroup v2, the cgroupfs way: the tree is
/// written directly). One directory per container, `<base>/skiff/<id>` by default, where `base`
/// is what `CgroupHost.v2Base` found: the delegated subtree rootless, the mount as root, or a
/// configured parent. Creating it enables, in each `cgroup.subtree_control` from `base` down to
/// the container's parent, the controllers the limits need and the parent offers (as far as
/// the delegation allows); a limit whose controller is still missing then is refused, naming
/// it, as crun refuses it. The process is moved in (cgroup.procs) before it execs its program.
/// Pause is `cgroup.freeze`, killing every process `cgroup.kill` (Linux 5.14; SIGKILL to each
/// listed process before that), the OOM count `memory.events`' `oom_kill`.
struct CgroupV2: Sendable, Equatable {
    /// The key state.json records the directory under (v1 records one key per controller).
    static let recordKey = "unified"

    /// The controllers every container's cgroup gets where the delegation offers them.
    static let standardControllers = ["cpuset", "cpu", "io", "memory", "pids"]

    /// One limit: `value` written to `<path>/<file>`, which needs `controller`.
    struct Write: Sendable, Equatable {
        var controller: String
        var file: String
        var value: String
        /// io.weight only: the blkio weight as given (10..1000), written to io.bfq.weight instead
        /// where the cgroup has that file (the BFQ scheduler's weight, same range as v1's), as
        /// runc and crun do.
        var bfqWeight: String? = nil

        /// The file and value for the cgroup at `directory`.
        func resolved(in directory: String) -> (file: String, value: String) {
            if let bfqWeight, access(directory + "/io.bfq.weight", F_OK) == 0 { return ("io.bfq.weight", bfqWeight) }
            return (file, value)
        }
    }

    /// Where the manager may write (nothing above it is touched).
    var base: String
    /// The container's directory (below `base`).
    var path: String
    var writes: [Write] = []
    /// The tree is an ordinary directory standing in for cgroupfs (tests: a recorded v2 host):
    /// writes create their files, removal deletes them, no process found there is signalled.
    var emulated = false
    /// As `CgroupV1.replaceExisting`: the default `skiff/<id>` left by an earlier container of
    /// this id is removed and made again; a path the caller chose is joined as it is.
    var replaceExisting = true
    /// Made by systemd as a transient scope (containers.conf `cgroup_manager = "systemd"`):
    /// `path` is the scope's cgroup, made when the container's process is added.
    var scope: SystemdScope?

    // MARK: - Planning

    /// The container's cgroup under `base`, with the limits of `resources` in the files of the
    /// unified hierarchy (conversions as runc's and crun's: below).
    static func plan(id: String, resources: Spec.Resources?, cgroupsPath: String?, base: String,
                     emulated: Bool = false) throws -> CgroupV2 {
        let relative = try CgroupV1.relativePath(cgroupsPath, id: id)
        var plan = CgroupV2(base: base, path: base + "/" + relative, emulated: emulated)
        plan.replaceExisting = cgroupsPath?.isEmpty ?? true
        plan.writes = limits(resources ?? Spec.Resources())
        return plan
    }

    /// `linux.resources` as cgroup v2 files, in the order they are written.
    static func limits(_ r: Spec.Resources) -> [Write] {
        var writes: [Write] = []
        if let limit = r.pidsLimit, limit != 0 {
            writes.append(Write(controller: "pids", file: "pids.max", value: limit > 0 ? String(limit) : "max"))
        }
        if let limit = r.memoryLimit, limit != 0 {
            writes.append(Write(controller: "memory", file: "memory.max", value: limit > 0 ? String(limit) : "max"))
        }
        if let reservation = r.memoryReservation, reservation != 0 {
            writes.append(Write(controller: "memory", file: "memory.low", value: reservation > 0 ? String(reservation) : "max"))
        }
        if let swap = r.memorySwap, swap != 0, let value = swapMax(memorySwap: swap, memory: r.memoryLimit) {
            writes.append(Write(controller: "memory", file: "memory.swap.max", value: value))
        }
        if let shares = r.cpuShares, shares != 0 {
            writes.append(Write(controller: "cpu", file: "cpu.weight", value: String(cpuWeight(shares: shares))))
        }
        if r.cpuQuota.map({ $0 != 0 }) ?? false || r.cpuPeriod.map({ $0 != 0 }) ?? false {
            writes.append(Write(controller: "cpu", file: "cpu.max", value: cpuMax(quota: r.cpuQuota, period: r.cpuPeriod)))
        }
        if let cpus = r.cpusetCpus, !cpus.isEmpty {
            writes.append(Write(controller: "cpuset", file: "cpuset.cpus", value: cpus))
        }
        if let mems = r.cpusetMems, !mems.isEmpty {
            writes.append(Write(controller: "cpuset", file: "cpuset.mems", value: mems))
        }
        if let weight = r.blkioWeight, weight != 0 {
            writes.append(Write(controller: "io", file: "io.weight", value: String(ioWeight(blkioWeight: weight)),
                                bfqWeight: String(weight)))
        }
        return writes
    }

    /// blkio.weight (10..1000) to io.weight (1..10000), runc's and crun's linear conversion:
    /// 10 -> 1, 500 -> 4950, 1000 -> 10000.
    static func ioWeight(blkioWeight: UInt16) -> UInt64 {
        let clamped = UInt64(min(max(blkioWeight, 10), 1000))
        return 1 + ((clamped - 10) * 9999) / 990
    }

    /// OCI's memory.swap is memory plus swap (v1's memsw); v2's memory.swap.max is the swap
    /// alone: their difference (runc's ConvertMemorySwapToCgroupV2Value). -1: unlimited; equal
    /// to the memory limit: no swap (0). Nil when there is no memory limit to subtract from.
    static func swapMax(memorySwap: Int64, memory: Int64?) -> String? {
        if memorySwap < 0 { return "max" }
        guard let memory, memory > 0 else { return nil }
        return String(max(memorySwap - memory, 0))
    }

    /// cpu.shares (2..262144) to cpu.weight (1..10000), runc's linear conversion (also crun's
    /// before 1.14): 2 -> 1, 1024 -> 39, 262144 -> 10000.
    static func cpuWeight(shares: UInt64) -> UInt64 {
        let clamped = min(max(shares, 2), 262_144)
        return 1 + ((clamped - 2) * 9999) / 262_142
    }

    /// cpu.max: "QUOTA PERIOD", QUOTA "max" without a quota (0 or negative), PERIOD 100000 us
    /// when not given.
    static func cpuMax(quota: Int64?, period: UInt64?) -> String {
        let p = period.flatMap { $0 > 0 ? $0 : nil } ?? 100_000
        let q = quota.flatMap { $0 > 0 ? String($0) : nil } ?? "max"
        return "\(q) \(p)"
    }

    // MARK: - The record in state.json

    var recorded: [String: String] {
        guard let scope else { return [CgroupV2.recordKey: path] }
        return [CgroupV2.recordKey: path, SystemdScope.unitKey: scope.unit, SystemdScope.busKey: scope.bus]
    }

    /// The cgroup a state recorded (nil: none, or v1's).
    init?(recorded: [String: String]?) {
        guard let path = recorded?[CgroupV2.recordKey] else { return nil }
        self.path = path
        base = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        emulated = access(path, F_OK) == 0 && !CgroupV2.isCgroupFS(path)
        if let unit = recorded?[SystemdScope.unitKey], let bus = recorded?[SystemdScope.busKey] {
            scope = SystemdScope(unit: unit, slice: "", bus: bus)
        }
    }

    init(base: String, path: String, writes: [Write] = [], emulated: Bool = false) {
        self.base = base
        self.path = path
        self.writes = writes
        self.emulated = emulated
    }

    /// True when `path` is on this host's cgroup2 mount (else a recorded tree standing in).
    static func isCgroupFS(_ path: String, mount: String? = CgroupHost.current.unifiedMount) -> Bool {
        guard let mount else { return false }
        return path == mount || path.hasPrefix(mount + "/")
    }

    // MARK: - Create, join, remove

    /// Makes the directory (and `skiff/` above it), enables the controllers its limits need in
    /// every cgroup.subtree_control from `base` down, and writes the limits. A limit whose
    /// controller the delegation does not give is refused (nothing is left made). A failure is
    /// `<context>: cgroup <path>: <step>: <errno text>`.
    func create(context: String) throws {
        // systemd makes a scope's cgroup once the process exists (`add`).
        if scope != nil { return }
        let needed = writes.reduce(into: [String]()) { if !$0.contains($1.controller) { $0.append($1.controller) } }
        // Enabled for every container as far as offered (stats and the OOM count need memory
        // and pids without a limit), plus any other a limit needs.
        let enabling = CgroupV2.standardControllers + needed.filter { !CgroupV2.standardControllers.contains($0) }
        var madeParents: [String] = []
        do {
            // The directories between base and the container's (`skiff/`: made once and kept),
            // each with the controllers enabled before the next is made below it.
            try enableControllers(enabling, in: base, context: context)
            var current = base
            for component in path.dropFirst(base.count).split(separator: "/").dropLast() {
                current += "/" + component
                if mkdir(current, 0o755) == 0 {
                    madeParents.append(current)
                    if emulated { try seedEmulated(current, context: context) }
                } else if errno != EEXIST {
                    throw failure(context, current, "mkdir", errno)
                }
                try enableControllers(enabling, in: current, context: context)
            }
            try makeOwnDirectory(context: context)
            let available = CgroupHost.controllers(of: path)
            if let missing = needed.first(where: { !available.contains($0) }) {
                let what = writes.filter { $0.controller == missing }.map(\.file).joined(separator: ", ")
                _ = removeOnce()
                throw RuntimeError(.unsupported, "\(context): cgroup \(path): the \(missing) controller is not delegated "
                                   + "(cgroup.controllers: \"\(available.joined(separator: " "))\"): \(what) cannot be applied")
            }
            for write in writes {
                let (file, value) = write.resolved(in: path)
                try CgroupV2.write(path + "/" + file, value, context: context, create: emulated)
            }
        } catch {
            _ = removeOnce()
            for parent in madeParents.reversed() {
                if emulated, let files = FileSystem.directoryEntries(parent) {
                    for file in files { unlink(parent + "/" + file) }
                }
                rmdir(parent)
            }
            throw error
        }
    }

    /// Enables in `directory`'s cgroup.subtree_control each of `controllers` it is offered
    /// (its cgroup.controllers) and has not enabled yet; one write each, so that one refused
    /// (EBUSY: processes in it; EINVAL) does not stop the others. What is missing then shows in
    /// the container's own cgroup.controllers, and `create` refuses it there.
    private func enableControllers(_ controllers: [String], in directory: String, context: String) throws {
        let offered = CgroupHost.controllers(of: directory)
        for controller in controllers where offered.contains(controller) && !CgroupV2.enabled(directory).contains(controller) {
            // A recorded tree has no kernel to merge "+name" into the list: the list is written.
            let value = emulated ? (CgroupV2.enabled(directory) + [controller]).joined(separator: " ") : "+" + controller
            try? CgroupV2.write(directory + "/cgroup.subtree_control", value, context: context, create: emulated)
        }
    }

    private func makeOwnDirectory(context: String) throws {
        if mkdir(path, 0o755) == 0 {
            if emulated { try seedEmulated(path, context: context) }
            return
        }
        var err = errno
        if err == EEXIST && !replaceExisting { return }
        if err == EEXIST {
            // Left by a container of this id that ended without removing it (EBUSY while a
            // process is still in it: then it is not ours to take).
            if let first = removeOnce() {
                err = first
            } else {
                if mkdir(path, 0o755) == 0 {
                    if emulated { try seedEmulated(path, context: context) }
                    return
                }
                err = errno
            }
        }
        throw failure(context, path, "mkdir", err)
    }

    /// In a recorded tree the kernel's files do not appear by themselves: the new directory is
    /// given the core files and `cgroup.controllers` (its parent's subtree_control).
    private func seedEmulated(_ directory: String, context: String) throws {
        let parent = String(directory[..<(directory.lastIndex(of: "/") ?? directory.endIndex)])
        let controllers = CgroupV2.enabled(parent).joined(separator: " ")
        for (file, value) in [("cgroup.controllers", controllers), ("cgroup.procs", ""), ("cgroup.subtree_control", ""),
                              ("cgroup.events", "populated 0\nfrozen 0\n"), ("cgroup.freeze", "0")] {
            try CgroupV2.write(directory + "/" + file, value, context: context, create: true)
        }
    }

    /// `cgroup.subtree_control` of `directory`: the controllers it enables for its children.
    static func enabled(_ directory: String) -> [String] {
        (CgroupV1.read(directory + "/cgroup.subtree_control") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
            .map(String.init)
    }

    /// Moves `pid` (a whole process) in. For a systemd scope not made yet: systemd makes it with
    /// `pid` in it; a limit whose controller the scope is not given is then refused as
    /// `create` refuses it (the scope stopped again).
    func add(pid: Int32, context: String) throws {
        if let scope, access(path, F_OK) != 0 {
            let id = String(scope.unit.dropFirst(6).dropLast(6))
            try scope.start(pid: pid, id: id, path: path, mount: CgroupHost.current.unifiedMount, context: context)
            let needed = writes.reduce(into: [String]()) { if !$0.contains($1.controller) { $0.append($1.controller) } }
            let available = CgroupHost.controllers(of: path)
            if let missing = needed.first(where: { !available.contains($0) }) {
                let what = writes.filter { $0.controller == missing }.map(\.file).joined(separator: ", ")
                _ = scope.stop()
                throw RuntimeError(.unsupported, "\(context): cgroup \(path): the \(missing) controller is not delegated "
                                   + "(cgroup.controllers: \"\(available.joined(separator: " "))\"): \(what) cannot be applied")
            }
            return
        }
        try CgroupV2.write(path + "/cgroup.procs", String(pid), context: context, create: emulated)
    }

    /// An O_PATH descriptor of the cgroup's directory, for making a process in it (clone3 with
    /// CLONE_INTO_CGROUP); the caller closes it. Nil where a process cannot be made there: a
    /// recorded tree, or a systemd scope that systemd makes only once the process exists.
    func openForClone() -> Int32? {
        guard !emulated, CgroupV2.isCgroupFS(path) else { return nil }
        let fd = open(path, Int32(SKIFF_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// Removes the directory, retrying for up to `milliseconds` while processes are still in it
    /// (EBUSY); after the first tries those are killed (cgroup.kill, which also kills frozen
    /// ones). Returns what is left ("path: errno text"); already gone counts as removed.
    @discardableResult
    func remove(milliseconds: Int = 2000) -> [String] {
        // systemd removes a stopped scope's cgroup; without an answer from it, it is removed
        // here as any other (Delegate=yes: ours to remove).
        if let scope { _ = scope.stop() }
        var left = removeOnce()
        var waited = 0
        var round = 0
        while left != nil && waited < milliseconds * 1000 {
            round += 1
            if round == 20 && !emulated { killAll() }
            // 1 ms steps first: an ended container's cgroup empties within a few (this is on
            // the path of `docker run --rm`), then 10 ms.
            let step = round <= 50 ? 1000 : 10_000
            usleep(UInt32(step))
            waited += step
            left = removeOnce()
        }
        return left.map { ["\(path): \(errnoText($0))"] } ?? []
    }

    /// One rmdir; the errno when it failed (nil: removed or already gone).
    private func removeOnce() -> Int32? {
        if emulated, let files = FileSystem.directoryEntries(path) {
            for file in files { unlink(path + "/" + file) }
        }
        if rmdir(path) != 0 && errno != ENOENT { return errno }
        return nil
    }

    /// SIGKILL to every process of the cgroup and its descendants: `cgroup.kill` where the
    /// kernel has it, else each process listed in cgroup.procs (thawed first: a frozen
    /// process would only die once thawed).
    func killAll() {
        if (try? CgroupV2.write(path + "/cgroup.kill", "1", context: "", create: emulated)) != nil { return }
        _ = try? CgroupV2.write(path + "/cgroup.freeze", "0", context: "", create: emulated)
        for pid in CgroupV1.pids(in: path) where pid > 1 { kill(pid, SIGKILL) }
    }

    var processes: [Int32] { CgroupV1.pids(in: path) }

    // MARK: - Freezer, OOM

    /// Freezes every process (cgroup.freeze 1) and returns once cgroup.events says `frozen 1`;
    /// after `milliseconds` it thaws again and fails, as runc does.
    func freeze(context: String, milliseconds: Int = 5000) throws {
        try CgroupV2.write(path + "/cgroup.freeze", "1", context: context, create: emulated)
        var waited = 0
        while !isFrozen {
            if emulated || waited >= milliseconds {
                if emulated && CgroupV1.read(path + "/cgroup.freeze") == "1" { return }
                break
            }
            usleep(1_000)
            waited += 1
        }
        if isFrozen { return }
        _ = try? CgroupV2.write(path + "/cgroup.freeze", "0", context: context, create: emulated)
        throw RuntimeError(.system, "\(context): cgroup \(path): cgroup.events: not frozen after \(milliseconds) ms",
                           errno: EBUSY)
    }

    func thaw(context: String) throws {
        try CgroupV2.write(path + "/cgroup.freeze", "0", context: context, create: emulated)
    }

    /// cgroup.events `frozen 1` (a recorded tree: cgroup.freeze 1).
    var isFrozen: Bool {
        if emulated { return CgroupV1.read(path + "/cgroup.freeze") == "1" }
        return CgroupV2.keyed(path + "/cgroup.events")["frozen"] == 1
    }

    /// True once the kernel's OOM killer killed a process of the cgroup: memory.events'
    /// `oom_kill` count (without the memory controller the file is absent: false).
    var oomKilled: Bool {
        (CgroupV2.keyed(path + "/memory.events")["oom_kill"] ?? 0) > 0
    }

    /// A flat keyed file ("key value" lines: cgroup.events, memory.events, cpu.stat).
    static func keyed(_ file: String) -> [String: Int64] {
        var values: [String: Int64] = [:]
        for line in (CgroupV1.read(file) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Int64(fields[1]) { values[String(fields[0])] = value }
        }
        return values
    }

    // MARK: - File I/O

    static func write(_ path: String, _ value: String, context: String, create: Bool) throws {
        try CgroupV1.write(path, value, controller: "unified", context: context, create: create)
    }

    private func failure(_ context: String, _ directory: String, _ step: String, _ err: Int32) -> RuntimeError {
        RuntimeError(.system, "\(context): cgroup \(directory): \(step): \(errnoText(err))", errno: err)
    }
}

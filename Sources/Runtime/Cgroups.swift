import OCI
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A container's cgroups under cgroup v1, one hierarchy per controller (`<root>/pids`,
/// `<root>/memory`, ...: the "hybrid" layout of this project's Debian 12 hosts). Only root can
/// make them there (a rootless user has no delegated hierarchy), so the runtime does this as root
/// only: it makes `<root>/<controller>/<cgroupsPath>` for pids, memory and freezer (and cpu when
/// the spec sets a cpu limit), writes `linux.resources` into them, and moves the container's
/// process in before it execs its program. Every later process of the container inherits them.
struct CgroupV1: Sendable, Equatable {
    /// Where the hierarchies are mounted.
    static let defaultRoot = "/sys/fs/cgroup"
    /// Controllers every container gets: pids and memory (limits, the OOM count), freezer (pause).
    static let required = ["pids", "memory", "freezer"]
    /// All the controllers this type uses, in the order their directories are made.
    static let known = ["pids", "memory", "freezer", "cpu", "cpuset", "blkio"]

    struct Directory: Sendable, Equatable {
        var controller: String
        var path: String
    }

    /// One limit: `value` written to `<directory of controller>/<file>`.
    struct Write: Sendable, Equatable {
        var controller: String
        var file: String
        var value: String
    }

    var directories: [Directory]
    /// The limits, in the order they are written.
    var writes: [Write] = []
    /// The hierarchies are an ordinary directory tree standing in for cgroupfs (tests: any root
    /// but /sys/fs/cgroup): writes create their files and removal deletes them, as the kernel's
    /// files appear and vanish with their directory; no process found there is ever signalled.
    var emulated = false
    /// An existing directory is replaced (removed and made again, so that its counts start from
    /// zero): the default `skiff/<id>`, left by a container of this id that ended without
    /// removing it. A `linux.cgroupsPath` the caller chose is joined as it is, as runc does.
    var replaceExisting = true

    // MARK: - Planning

    /// True when `root` has the v1 hierarchies every container needs (a `tasks` file is v1's).
    static func available(root: String = defaultRoot) -> Bool {
        required.allSatisfy { access(root + "/" + $0 + "/tasks", F_OK) == 0 }
    }

    /// The container's cgroups, or nil when there are none to make: not root, or a host without
    /// the v1 hierarchies (pure cgroup v2): then the limits are not applied and nothing is recorded.
    static func plan(id: String, resources: Spec.Resources?, cgroupsPath: String?, root: String = defaultRoot,
                     isRoot: Bool = geteuid() == 0, warn: (String) -> Void) throws -> CgroupV1? {
        guard isRoot, available(root: root) else { return nil }
        let relative = try relativePath(cgroupsPath, id: id)
        var controllers = required
        let r = resources ?? Spec.Resources()
        let wantsCPU = r.cpuShares != nil || r.cpuQuota != nil || r.cpuPeriod != nil
        if wantsCPU {
            if access(root + "/cpu/tasks", F_OK) == 0 {
                controllers.append("cpu")
            } else {
                warn("no cpu cgroup hierarchy at \(root)/cpu: the cpu limits are not applied")
            }
        }
        let wantsCpuset = !(r.cpusetCpus ?? "").isEmpty || !(r.cpusetMems ?? "").isEmpty
        if wantsCpuset {
            if access(root + "/cpuset/tasks", F_OK) == 0 {
                controllers.append("cpuset")
            } else {
                warn("no cpuset cgroup hierarchy at \(root)/cpuset: cpu.cpus and cpu.mems are not applied")
            }
        }
        let weightFile = blkioWeightFile(root: root)
        if let weight = r.blkioWeight, weight != 0 {
            if weightFile != nil {
                controllers.append("blkio")
            } else {
                warn("the blkio hierarchy at \(root)/blkio has no blkio.weight or blkio.bfq.weight (the I/O scheduler "
                     + "has no weights): blockIO.weight is not applied")
            }
        }
        var plan = CgroupV1(directories: controllers.map { Directory(controller: $0, path: "\(root)/\($0)/\(relative)") },
                            emulated: root != defaultRoot)
        plan.replaceExisting = cgroupsPath?.isEmpty ?? true
        if let limit = r.pidsLimit, limit != 0 {
            // As runc: 0 is "not set", a negative limit is none at all.
            plan.writes.append(Write(controller: "pids", file: "pids.max", value: limit > 0 ? String(limit) : "max"))
        }
        if let limit = r.memoryLimit, limit != 0 {
            plan.writes.append(Write(controller: "memory", file: "memory.limit_in_bytes", value: String(limit)))
        }
        if let reservation = r.memoryReservation, reservation != 0 {
            plan.writes.append(Write(controller: "memory", file: "memory.soft_limit_in_bytes", value: String(reservation)))
        }
        if let swap = r.memorySwap, swap != 0 {
            // memory+swap: after memory.limit_in_bytes (it may not be below it). Without swap
            // accounting (swapaccount=0) the kernel has no such file.
            if access(root + "/memory/memory.memsw.limit_in_bytes", F_OK) == 0 {
                plan.writes.append(Write(controller: "memory", file: "memory.memsw.limit_in_bytes", value: String(swap)))
            } else {
                warn("the kernel does not account swap (no memory.memsw.limit_in_bytes): memory.swap is not applied")
            }
        }
        if controllers.contains("cpu") {
            if let shares = r.cpuShares, shares != 0 {
                plan.writes.append(Write(controller: "cpu", file: "cpu.shares", value: String(shares)))
            }
            if let period = r.cpuPeriod, period != 0 {
                plan.writes.append(Write(controller: "cpu", file: "cpu.cfs_period_us", value: String(period)))
            }
            if let quota = r.cpuQuota, quota != 0 {
                plan.writes.append(Write(controller: "cpu", file: "cpu.cfs_quota_us", value: String(quota)))
            }
        }
        if controllers.contains("cpuset") {
            // A new cpuset cgroup starts empty; a process cannot join it before both are set
            // (the one not given: the parent's, written by `create`).
            if let cpus = r.cpusetCpus, !cpus.isEmpty {
                plan.writes.append(Write(controller: "cpuset", file: "cpuset.cpus", value: cpus))
            }
            if let mems = r.cpusetMems, !mems.isEmpty {
                plan.writes.append(Write(controller: "cpuset", file: "cpuset.mems", value: mems))
            }
        }
        if controllers.contains("blkio"), let weight = r.blkioWeight, let weightFile {
            plan.writes.append(Write(controller: "blkio", file: weightFile, value: String(weight)))
        }
        return plan
    }

    /// The blkio weight file the kernel has (CFQ's blkio.weight, BFQ's blkio.bfq.weight), nil
    /// when the I/O scheduler has no weights.
    static func blkioWeightFile(root: String) -> String? {
        guard access(root + "/blkio/tasks", F_OK) == 0 else { return nil }
        return ["blkio.weight", "blkio.bfq.weight"].first { access(root + "/blkio/" + $0, F_OK) == 0 }
    }

    /// `linux.cgroupsPath` below each hierarchy's root: `skiff/<id>` when absent; absolute or
    /// relative, it is taken from the hierarchy's root. No `.` or `..` components, and not
    /// systemd's `slice:prefix:name` form (Skiff manages cgroupfs directly).
    static func relativePath(_ given: String?, id: String) throws -> String {
        guard let given, !given.isEmpty else { return "skiff/" + id }
        let components = given.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.isEmpty, !components.contains(where: { $0 == "." || $0 == ".." }) else {
            throw RuntimeError(.invalidArgument, "config.json: linux.cgroupsPath \"\(given)\" is not a cgroup path")
        }
        if !given.hasPrefix("/") && given.contains(":") {
            throw RuntimeError(.invalidArgument,
                               "config.json: linux.cgroupsPath \"\(given)\": systemd's slice:prefix:name form is not supported")
        }
        return components.joined(separator: "/")
    }

    // MARK: - The record in state.json

    /// controller -> directory, as state.json keeps them.
    var recorded: [String: String] {
        Dictionary(directories.map { ($0.controller, $0.path) }, uniquingKeysWith: { a, _ in a })
    }

    /// The cgroups a state recorded (nil: none).
    init?(recorded: [String: String]?) {
        // A cgroup v2 record (`CgroupV2.recordKey`, with a systemd scope's keys) is not v1's.
        guard recorded?[CgroupV2.recordKey] == nil, let recorded, !recorded.isEmpty else { return nil }
        let order = CgroupV1.known + recorded.keys.filter { !CgroupV1.known.contains($0) }.sorted()
        directories = order.compactMap { c in recorded[c].map { Directory(controller: c, path: $0) } }
        emulated = !recorded.values.allSatisfy { $0.hasPrefix(CgroupV1.defaultRoot + "/") }
    }

    init(directories: [Directory], writes: [Write] = [], emulated: Bool = false) {
        self.directories = directories
        self.writes = writes
        self.emulated = emulated
    }

    func path(_ controller: String) -> String? {
        directories.first { $0.controller == controller }?.path
    }

    // MARK: - Create, join, remove

    /// Makes the directories (and their parents) and writes the limits. A failure removes what
    /// was made and is thrown as `<context>: cgroup <controller>: <path>: <errno text>`.
    func create(context: String) throws {
        var made: [Directory] = []
        do {
            for directory in directories {
                try makeDirectory(directory, context: context)
                made.append(directory)
                if directory.controller == "cpuset" { try seedCpuset(directory.path, context: context) }
            }
            for write in writes {
                guard let dir = path(write.controller) else { continue }
                try CgroupV1.write(dir + "/" + write.file, write.value, controller: write.controller,
                                   context: context, create: emulated)
            }
        } catch {
            CgroupV1(directories: made, emulated: emulated).remove(milliseconds: 500)
            throw error
        }
    }

    /// cpuset v1: a cgroup's cpuset.cpus and cpuset.mems start empty and no process may join
    /// it until both are set; each empty one from the hierarchy's root down to `path` is given
    /// its parent's (as runc does), the container's own limits then narrow it.
    private func seedCpuset(_ path: String, context: String) throws {
        guard let top = directories.first(where: { $0.controller == "cpuset" })?.path, top == path else { return }
        // The hierarchy's root: `<root>/cpuset`, the first "cpuset" component of the path.
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard let index = components.firstIndex(of: "cpuset") else { return }
        let mount = components[...index].joined(separator: "/")
        var chain: [String] = []
        var current = path
        while current.count > mount.count, current.hasPrefix(mount + "/") {
            chain.insert(current, at: 0)
            current = String(current[..<(current.lastIndex(of: "/") ?? current.startIndex)])
        }
        var parent = mount
        for directory in chain {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let own = CgroupV1.read(directory + "/" + file) ?? ""
                if own.isEmpty, let inherited = CgroupV1.read(parent + "/" + file), !inherited.isEmpty {
                    try CgroupV1.write(directory + "/" + file, inherited, controller: "cpuset", context: context, create: emulated)
                }
            }
            parent = directory
        }
    }

    private func makeDirectory(_ directory: Directory, context: String) throws {
        if mkdir(directory.path, 0o755) == 0 { return }
        var err = errno
        if err == ENOENT {
            // The first container: the parents (`skiff/`) are made once and stay.
            let parent = String(directory.path[..<(directory.path.lastIndex(of: "/") ?? directory.path.endIndex)])
            do {
                try FileSystem.makeDirectories(parent, mode: 0o755)
            } catch {
                throw RuntimeError(.system, "\(context): cgroup \(directory.controller): \(parent): \(errnoText(error.errno))",
                                   errno: error.errno)
            }
            if mkdir(directory.path, 0o755) == 0 { return }
            err = errno
        }
        if err == EEXIST && !replaceExisting {
            var info = stat()
            if stat(directory.path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR { return }
        }
        if err == EEXIST {
            // Left by a container of this id that ended without removing it: the kernel refuses
            // (EBUSY) while any process is still in it, and then it is not ours to take.
            let failed = CgroupV1(directories: [directory], emulated: emulated).removeOnce()
            if let first = failed.first {
                err = first.errno
            } else {
                if mkdir(directory.path, 0o755) == 0 { return }
                err = errno
            }
        }
        throw RuntimeError(.system, "\(context): cgroup \(directory.controller): \(directory.path): \(errnoText(err))",
                           errno: err)
    }

    /// Moves `pid` (a whole process) into every directory.
    func add(pid: Int32, context: String) throws {
        for directory in directories {
            try CgroupV1.write(directory.path + "/cgroup.procs", String(pid), controller: directory.controller,
                               context: context, create: emulated)
        }
    }

    /// Removes the directories, newest first, retrying for up to `milliseconds` while the kernel
    /// still counts processes in them (EBUSY). Processes still inside after the first tries are
    /// the container's own (it has ended, or is being deleted): they are thawed and killed.
    /// Returns the directories left ("path: errno text"); already gone counts as removed.
    @discardableResult
    func remove(milliseconds: Int = 2000) -> [String] {
        var left = removeOnce()
        var waited = 0
        var round = 0
        while !left.isEmpty && waited < milliseconds {
            round += 1
            if round == 3 && !emulated { killRemaining() }
            usleep(10_000)
            waited += 10
            left = removeOnce()
        }
        return left.map { "\($0.path): \(errnoText($0.errno))" }
    }

    /// One pass of rmdir over every directory; the ones that failed, with their errno.
    private func removeOnce() -> [(path: String, errno: Int32)] {
        var failed: [(path: String, errno: Int32)] = []
        for directory in directories.reversed() {
            if emulated, let files = FileSystem.directoryEntries(directory.path) {
                for file in files { unlink(directory.path + "/" + file) }
            }
            if rmdir(directory.path) != 0 && errno != ENOENT { failed.append((directory.path, errno)) }
        }
        return failed
    }

    /// SIGKILL to every process still in the directories (thawed first: a frozen process does
    /// not die under cgroup v1).
    private func killRemaining() {
        if let freezer = path("freezer") {
            _ = try? CgroupV1.write(freezer + "/freezer.state", "THAWED", controller: "freezer", context: "", create: emulated)
        }
        for directory in directories {
            for pid in CgroupV1.pids(in: directory.path) where pid > 1 { kill(pid, SIGKILL) }
        }
    }

    static func pids(in directory: String) -> [Int32] {
        guard let bytes = try? FileSystem.readFile(directory + "/cgroup.procs", limit: 1 << 22) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
    }

    // MARK: - Freezer, OOM

    /// Freezes every process (`freezer.state` FROZEN), waiting until the kernel reports FROZEN
    /// (FREEZING while some task is still being stopped). Gives up after `milliseconds`, thawing
    /// again, as runc does.
    func freeze(context: String, milliseconds: Int = 5000) throws {
        guard let freezer = path("freezer") else {
            throw RuntimeError(.unsupported, "\(context): the container has no freezer cgroup")
        }
        let file = freezer + "/freezer.state"
        var waited = 0
        while true {
            try CgroupV1.write(file, "FROZEN", controller: "freezer", context: context, create: emulated)
            if CgroupV1.read(file) == "FROZEN" { return }
            if waited >= milliseconds { break }
            usleep(1_000)
            waited += 1
        }
        _ = try? CgroupV1.write(file, "THAWED", controller: "freezer", context: context, create: emulated)
        throw RuntimeError(.system, "\(context): cgroup freezer: \(file): still \(CgroupV1.read(file) ?? "unreadable") "
                                    + "after \(milliseconds) ms", errno: EBUSY)
    }

    func thaw(context: String) throws {
        guard let freezer = path("freezer") else {
            throw RuntimeError(.unsupported, "\(context): the container has no freezer cgroup")
        }
        try CgroupV1.write(freezer + "/freezer.state", "THAWED", controller: "freezer", context: context, create: emulated)
    }

    /// `freezer.state` (THAWED, FREEZING, FROZEN), nil without a freezer cgroup.
    var freezerState: String? {
        path("freezer").flatMap { CgroupV1.read($0 + "/freezer.state") }
    }

    /// True once the kernel's OOM killer has killed a process of the memory cgroup: the
    /// `oom_kill` count of `memory.oom_control` (Linux 4.13 and later; cgroup v1 has no
    /// memory.events).
    var oomKilled: Bool {
        guard let memory = path("memory"), let text = CgroupV1.read(memory + "/memory.oom_control") else { return false }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 && fields[0] == "oom_kill" { return (Int(fields[1]) ?? 0) > 0 }
        }
        return false
    }

    // MARK: - File I/O

    /// Writes `value` with one write(2), as the kernel's cgroup files expect.
    static func write(_ path: String, _ value: String, controller: String, context: String, create: Bool) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        guard fd >= 0 else {
            let err = errno
            throw RuntimeError(.system, "\(context): cgroup \(controller): \(path): \(errnoText(err))", errno: err)
        }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBytes { raw in Syscall.retrying { Glibc.write(fd, raw.baseAddress, raw.count) } }
        guard n == bytes.count else {
            let err = n < 0 ? errno : EIO
            throw RuntimeError(.system, "\(context): cgroup \(controller): \(path): \(errnoText(err))", errno: err)
        }
    }

    /// A small file's text without its trailing newline.
    static func read(_ path: String) -> String? {
        guard let bytes = try? FileSystem.readFile(path, limit: 1 << 16) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

import OCI
import Platform
import Testing
@testable import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// `linux.resources` parsing and the cgroup v1 files, against a directory tree standing in for
/// /sys/fs/cgroup (any other root is `emulated`: files are created on write, removed with their
/// directory).
struct CgroupsTests {
    // MARK: - helpers

    /// A fake cgroup v1 root: `<root>/<controller>/tasks` for each controller, plus
    /// memory.memsw.limit_in_bytes (swap accounting) unless `swapAccounting` is false.
    func fakeRoot(controllers: [String] = ["pids", "memory", "freezer", "cpu"], swapAccounting: Bool = true) throws -> String {
        var template = Array("/tmp/skiff-cgroup-test.XXXXXX".utf8CString)
        let root = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        for controller in controllers {
            try FileSystem.makeDirectories(root + "/" + controller, mode: 0o755)
            try FileSystem.writeAtomically(root + "/" + controller + "/tasks", [], mode: 0o644)
        }
        if swapAccounting && controllers.contains("memory") {
            try FileSystem.writeAtomically(root + "/memory/memory.memsw.limit_in_bytes", Array("9223372036854771712\n".utf8))
        }
        return root
    }

    func text(_ path: String) -> String? {
        (try? FileSystem.readFile(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    func spec(linux: String) throws -> Spec {
        let json = #"{"ociVersion":"1.1.0","linux":"# + linux + "}"
        return try Spec.decode(Array(json.utf8), source: "config.json")
    }

    func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    // MARK: - parsing

    @Test func resourcesAndCgroupsPathAreRead() throws {
        let s = try spec(linux: """
            {"cgroupsPath":"/machine/c1","resources":{"pids":{"limit":20},
             "memory":{"limit":33554432,"reservation":16777216,"swap":-1},
             "cpu":{"shares":512,"quota":50000,"period":100000},
             "devices":[{"allow":false,"access":"rwm"}],"blockIO":{"weight":10}}}
            """)
        #expect(s.linux?.cgroupsPath == "/machine/c1")
        #expect(s.linux?.resources == Spec.Resources(pidsLimit: 20, memoryLimit: 33_554_432, memoryReservation: 16_777_216,
                                                     memorySwap: -1, cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000,
                                                     blkioWeight: 10))
    }

    @Test func absentOrEmptyResourcesAreNothingToApply() throws {
        #expect(try spec(linux: "{}").linux?.resources == nil)
        #expect(try spec(linux: #"{"resources":null}"#).linux?.resources == nil)
        #expect(try spec(linux: #"{"resources":{}}"#).linux?.resources == Spec.Resources())
        #expect(try spec(linux: #"{"resources":{"memory":{}}}"#).linux?.resources == Spec.Resources())
    }

    @Test func wrongTypesNameTheField() {
        #expect(message { _ = try spec(linux: #"{"resources":{"pids":{}}}"#) }
                == "config.json: missing linux.resources.pids.limit")
        #expect(message { _ = try spec(linux: #"{"resources":{"pids":{"limit":"20"}}}"#) }
                == "config.json: linux.resources.pids.limit: expected an integer, found a string")
        #expect(message { _ = try spec(linux: #"{"resources":{"memory":{"limit":1.5}}}"#) }?
                    .hasPrefix("config.json: linux.resources.memory.limit: expected an integer") == true)
        #expect(message { _ = try spec(linux: #"{"resources":{"cpu":{"shares":-2}}}"#) }
                == "config.json: linux.resources.cpu.shares: expected a number from 0 to 18446744073709551615, found a negative number")
        #expect(message { _ = try spec(linux: #"{"resources":[]}"#) }
                == "config.json: linux.resources: expected an object, found an array")
        #expect(message { _ = try spec(linux: #"{"cgroupsPath":7}"#) }
                == "config.json: linux.cgroupsPath: expected a string, found a number")
    }

    @Test func cgroupsPathIsTakenFromEachHierarchysRoot() throws {
        #expect(try CgroupV1.relativePath(nil, id: "c1") == "skiff/c1")
        #expect(try CgroupV1.relativePath("", id: "c1") == "skiff/c1")
        #expect(try CgroupV1.relativePath("/machine/c1", id: "c1") == "machine/c1")
        #expect(try CgroupV1.relativePath("machine//c1/", id: "c1") == "machine/c1")
        #expect(message { _ = try CgroupV1.relativePath("/a/../b", id: "c1") }
                == "config.json: linux.cgroupsPath \"/a/../b\" is not a cgroup path")
        #expect(message { _ = try CgroupV1.relativePath("/", id: "c1") } == "config.json: linux.cgroupsPath \"/\" is not a cgroup path")
        #expect(message { _ = try CgroupV1.relativePath("system.slice:skiff:c1", id: "c1") }?.contains("not supported") == true)
    }

    // MARK: - planning

    @Test func rootlessOrNoV1HierarchiesMeansNoCgroups() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        let limits = Spec.Resources(pidsLimit: 20)
        #expect(try CgroupV1.plan(id: "c1", resources: limits, cgroupsPath: nil, root: root, isRoot: false, warn: { _ in }) == nil)
        // A pure cgroup v2 host has no per-controller hierarchies (and no `tasks` files).
        let v2 = try fakeRoot(controllers: ["pids", "memory"])
        defer { FileSystem.removeTree(v2) }
        #expect(try CgroupV1.plan(id: "c1", resources: limits, cgroupsPath: nil, root: v2, isRoot: true, warn: { _ in }) == nil)
        #expect(CgroupV1.available(root: root))
        #expect(!CgroupV1.available(root: v2))
    }

    @Test func everyContainerGetsPidsMemoryAndFreezerWithTheLimitsInOrder() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        var warnings: [String] = []
        let plain = try #require(try CgroupV1.plan(id: "c1", resources: nil, cgroupsPath: nil, root: root, isRoot: true,
                                                   warn: { warnings.append($0) }))
        #expect(plain.directories.map(\.path) == ["pids", "memory", "freezer"].map { "\(root)/\($0)/skiff/c1" })
        #expect(plain.writes.isEmpty)
        #expect(plain.emulated)

        let limits = Spec.Resources(pidsLimit: 20, memoryLimit: 32 << 20, memoryReservation: 16 << 20, memorySwap: 64 << 20,
                                    cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000)
        let plan = try #require(try CgroupV1.plan(id: "c1", resources: limits, cgroupsPath: "/machine/x", root: root,
                                                  isRoot: true, warn: { warnings.append($0) }))
        #expect(plan.directories.map(\.controller) == ["pids", "memory", "freezer", "cpu"])
        #expect(plan.path("cpu") == root + "/cpu/machine/x")
        #expect(plan.writes.map { "\($0.controller)/\($0.file)=\($0.value)" } == [
            "pids/pids.max=20", "memory/memory.limit_in_bytes=33554432", "memory/memory.soft_limit_in_bytes=16777216",
            "memory/memory.memsw.limit_in_bytes=67108864", "cpu/cpu.shares=512", "cpu/cpu.cfs_period_us=100000",
            "cpu/cpu.cfs_quota_us=50000",
        ])
        #expect(warnings.isEmpty)
    }

    @Test func unlimitedValuesAndWhatTheHostLacks() throws {
        let root = try fakeRoot(controllers: ["pids", "memory", "freezer"], swapAccounting: false)
        defer { FileSystem.removeTree(root) }
        var warnings: [String] = []
        let limits = Spec.Resources(pidsLimit: -1, memoryLimit: -1, memorySwap: -1, cpuShares: 1024)
        let plan = try #require(try CgroupV1.plan(id: "c1", resources: limits, cgroupsPath: nil, root: root, isRoot: true,
                                                  warn: { warnings.append($0) }))
        #expect(plan.writes.map { "\($0.file)=\($0.value)" } == ["pids.max=max", "memory.limit_in_bytes=-1"])
        #expect(plan.directories.map(\.controller) == ["pids", "memory", "freezer"])
        #expect(warnings.count == 2)
        #expect(warnings.contains { $0.contains("cpu") })
        #expect(warnings.contains { $0.contains("memory.memsw.limit_in_bytes") })
        // cpuset and blkio weight on a host without their hierarchies: not applied, which is said.
        warnings = []
        let cpuset = try #require(try CgroupV1.plan(id: "c1", resources: Spec.Resources(cpusetCpus: "0", blkioWeight: 300),
                                                    cgroupsPath: nil, root: root, isRoot: true, warn: { warnings.append($0) }))
        #expect(cpuset.directories.map(\.controller) == ["pids", "memory", "freezer"] && cpuset.writes.isEmpty)
        #expect(warnings == ["no cpuset cgroup hierarchy at \(root)/cpuset: cpu.cpus and cpu.mems are not applied",
                             "the blkio hierarchy at \(root)/blkio has no blkio.weight or blkio.bfq.weight (the I/O scheduler "
                             + "has no weights): blockIO.weight is not applied"])
        // 0 is "not set".
        let zero = try #require(try CgroupV1.plan(id: "c1", resources: Spec.Resources(pidsLimit: 0, memoryLimit: 0),
                                                  cgroupsPath: nil, root: root, isRoot: true, warn: { _ in }))
        #expect(zero.writes.isEmpty)
    }

    @Test func cpusetAndBlkioWeightGetTheirV1Cgroups() throws {
        let root = try fakeRoot(controllers: ["pids", "memory", "freezer", "cpuset", "blkio"], swapAccounting: false)
        defer { FileSystem.removeTree(root) }
        // The hierarchy's root has every CPU and node; a new cgroup starts empty (as the kernel's).
        try FileSystem.writeAtomically(root + "/cpuset/cpuset.cpus", Array("0-3".utf8), mode: 0o644)
        try FileSystem.writeAtomically(root + "/cpuset/cpuset.mems", Array("0".utf8), mode: 0o644)
        try FileSystem.writeAtomically(root + "/blkio/blkio.bfq.weight", Array("default 100\n".utf8), mode: 0o644)
        var warnings: [String] = []
        let plan = try #require(try CgroupV1.plan(id: "c9", resources: Spec.Resources(cpusetCpus: "1-2", blkioWeight: 300),
                                                  cgroupsPath: nil, root: root, isRoot: true, warn: { warnings.append($0) }))
        #expect(warnings.isEmpty)
        #expect(plan.directories.map(\.controller) == ["pids", "memory", "freezer", "cpuset", "blkio"])
        #expect(plan.writes.map { "\($0.controller) \($0.file)=\($0.value)" }
                == ["cpuset cpuset.cpus=1-2", "blkio blkio.bfq.weight=300"])
        try plan.create(context: "create c9")
        defer { plan.remove() }
        func text(_ path: String) -> String? { CgroupV1.read(path) }
        // skiff/ inherits the root's, the container's own narrows cpus and inherits mems.
        #expect(text(root + "/cpuset/skiff/cpuset.cpus") == "0-3" && text(root + "/cpuset/skiff/cpuset.mems") == "0")
        #expect(text(root + "/cpuset/skiff/c9/cpuset.cpus") == "1-2" && text(root + "/cpuset/skiff/c9/cpuset.mems") == "0")
        #expect(text(root + "/blkio/skiff/c9/blkio.bfq.weight") == "300")
    }

    // MARK: - files

    @Test func createWritesTheLimitsAddWritesThePidAndRemoveTakesAll() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        let limits = Spec.Resources(pidsLimit: 20, memoryLimit: 32 << 20, memorySwap: 64 << 20, cpuShares: 512)
        let cgroups = try #require(try CgroupV1.plan(id: "c1", resources: limits, cgroupsPath: nil, root: root, isRoot: true,
                                                     warn: { _ in }))
        try cgroups.create(context: "create c1")
        #expect(text(root + "/pids/skiff/c1/pids.max") == "20")
        #expect(text(root + "/memory/skiff/c1/memory.limit_in_bytes") == "33554432")
        #expect(text(root + "/memory/skiff/c1/memory.memsw.limit_in_bytes") == "67108864")
        #expect(text(root + "/cpu/skiff/c1/cpu.shares") == "512")
        #expect(access(root + "/freezer/skiff/c1", F_OK) == 0)

        try cgroups.add(pid: 4242, context: "create c1")
        for controller in ["pids", "memory", "freezer", "cpu"] {
            #expect(text("\(root)/\(controller)/skiff/c1/cgroup.procs") == "4242")
        }
        // A second create of the same id replaces what an ended container left.
        try cgroups.create(context: "create c1")
        #expect(text(root + "/pids/skiff/c1/cgroup.procs") == nil)

        // A cgroupsPath the caller chose is joined as it is.
        let chosen = try #require(try CgroupV1.plan(id: "c1", resources: nil, cgroupsPath: "/machine/c1", root: root,
                                                    isRoot: true, warn: { _ in }))
        try chosen.create(context: "create c1")
        try chosen.add(pid: 4242, context: "create c1")
        try chosen.create(context: "create c1")
        #expect(text(root + "/pids/machine/c1/cgroup.procs") == "4242")
        #expect(chosen.remove().isEmpty)

        #expect(cgroups.remove().isEmpty)
        for controller in ["pids", "memory", "freezer", "cpu"] {
            #expect(access("\(root)/\(controller)/skiff/c1", F_OK) != 0)
            #expect(access("\(root)/\(controller)/skiff", F_OK) == 0, "the shared parent stays")
        }
        #expect(cgroups.remove().isEmpty, "already gone is removed")
    }

    @Test func aFailedWriteNamesControllerPathAndErrnoAndUndoesTheCreate() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        var cgroups = try #require(try CgroupV1.plan(id: "c1", resources: Spec.Resources(pidsLimit: 20), cgroupsPath: nil,
                                                     root: root, isRoot: true, warn: { _ in }))
        cgroups.emulated = false   // as on cgroupfs: a file the kernel does not have cannot be written
        #expect(message { try cgroups.create(context: "create c1") }
                == "create c1: cgroup pids: \(root)/pids/skiff/c1/pids.max: No such file or directory")
        for controller in ["pids", "memory", "freezer"] {
            #expect(access("\(root)/\(controller)/skiff/c1", F_OK) != 0)
        }
        // A directory that cannot be made.
        let blocked = try #require(try CgroupV1.plan(id: "c2", resources: nil, cgroupsPath: nil, root: root, isRoot: true,
                                                     warn: { _ in }))
        try FileSystem.writeAtomically(root + "/memory/skiff/c2", [], mode: 0o644)   // a file where the directory goes
        let text = message { try blocked.create(context: "create c2") }
        #expect(text?.hasPrefix("create c2: cgroup memory: \(root)/memory/skiff/c2: ") == true, "\(text ?? "")")
        #expect(access(root + "/pids/skiff/c2", F_OK) != 0, "what was made is removed")
    }

    @Test func freezerAndOOMCount() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        let cgroups = try #require(try CgroupV1.plan(id: "c1", resources: nil, cgroupsPath: nil, root: root, isRoot: true,
                                                     warn: { _ in }))
        try cgroups.create(context: "create c1")
        let memory = root + "/memory/skiff/c1/memory.oom_control"
        try FileSystem.writeAtomically(memory, Array("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n".utf8))
        #expect(!cgroups.oomKilled)
        try FileSystem.writeAtomically(memory, Array("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n".utf8))
        #expect(cgroups.oomKilled)

        try cgroups.freeze(context: "pause c1")
        #expect(cgroups.freezerState == "FROZEN")
        try cgroups.thaw(context: "resume c1")
        #expect(cgroups.freezerState == "THAWED")
        cgroups.remove()
    }

    // MARK: - through Container and state.json

    @Test func theStateRecordsTheCgroupsAndContainerReadsThem() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        let stateRoot = root + "/state"
        let cgroups = try #require(try CgroupV1.plan(id: "c1", resources: Spec.Resources(memoryLimit: 1 << 30), cgroupsPath: nil,
                                                     root: root, isRoot: true, warn: { _ in }))
        try cgroups.create(context: "create c1")
        try FileSystem.writeAtomically(root + "/memory/skiff/c1/memory.oom_control", Array("oom_kill 1\n".utf8))

        var container = try Container(id: "c1", root: stateRoot)
        container.cgroupRoot = root
        // This test's own process stands in for the container's (alive, no exec.fifo: running).
        let me = getpid()
        let start = try #require(ProcessStat.read(me)).startTime
        try FileSystem.makeDirectories(stateRoot + "/c1", mode: 0o700)
        let state = ContainerState(ociVersion: "1.1.0", id: "c1", pid: me, pidStartTime: start, bundle: "/b", rootfs: "/b/rootfs",
                                   created: "now", annotations: nil, cgroups: cgroups.recorded)
        try container.directory.write(state)
        #expect(ContainerState(json: try JSONParser.parse(try FileSystem.readFile(stateRoot + "/c1/state.json"))) == state)
        #expect(text(stateRoot + "/c1/state.json")?.contains(#""freezer":"\#(root)/freezer/skiff/c1""#) == true)

        #expect(container.usesCgroups)
        #expect(container.cgroupOOMKilled())
        try container.freeze()
        #expect(container.isFrozen)
        #expect(try container.state().status == "paused")
        try container.thaw()
        #expect(!container.isFrozen)
        #expect(try container.state().status == "running")

        try container.removeCgroups()
        #expect(access(root + "/memory/skiff/c1", F_OK) != 0)
        #expect(!container.cgroupOOMKilled(), "the count goes with the cgroup")
        container.removeState()
        #expect(access(stateRoot + "/c1", F_OK) != 0)
    }

    @Test func withoutCgroupsTheAPIIsQuiet() throws {
        let root = try fakeRoot()
        defer { FileSystem.removeTree(root) }
        var container = try Container(id: "c1", root: root + "/state")
        container.cgroupRoot = root
        let me = getpid()
        try FileSystem.makeDirectories(root + "/state/c1", mode: 0o700)
        try container.directory.write(ContainerState(ociVersion: "1.1.0", id: "c1", pid: me,
                                                     pidStartTime: try #require(ProcessStat.read(me)).startTime,
                                                     bundle: "/b", rootfs: "/b/rootfs", created: "now", annotations: nil))
        #expect(!container.usesCgroups)
        #expect(!container.cgroupOOMKilled())
        #expect(!container.isFrozen)
        try container.removeCgroups()
        #expect(message { try container.freeze() }?.contains("has no cgroups") == true)
        #expect(try container.cgroupReport() == .object([]))
    }
}

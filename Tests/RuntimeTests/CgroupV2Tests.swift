import OCI
import Platform
import Testing
@testable import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// The cgroup v2 manager's file-level behaviour against a cgroup2 tree laid out as a Debian 12
/// host's (systemd 252, user@1000.service delegated `cpu memory pids`), served from a temporary
/// directory: the same code path a v2 host runs (`CgroupV2` with an injected base; the tree is
/// `emulated`, so files are created on write). Core behaviour on the kernel's own cgroup2
/// (membership, freeze, kill, removal) is tested in Tests/integration/test_cgroups_v2.py.
struct CgroupV2Tests {
    /// The tree, relative path -> content (directories implied). The controllers files as the
    /// kernel shows them; cgroup.procs holding the service.
    static let recordedTree: [String: String] = [
        "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
        "cgroup.subtree_control": "cpu io memory pids\n",
        "user.slice/cgroup.controllers": "cpu io memory pids\n",
        "user.slice/cgroup.subtree_control": "cpu memory pids\n",
        "user.slice/user-1000.slice/cgroup.controllers": "cpu memory pids\n",
        "user.slice/user-1000.slice/cgroup.subtree_control": "cpu memory pids\n",
        "user.slice/user-1000.slice/user@1000.service/cgroup.controllers": "cpu memory pids\n",
        "user.slice/user-1000.slice/user@1000.service/cgroup.subtree_control": "memory pids\n",
        "user.slice/user-1000.slice/user@1000.service/cgroup.procs": "",
        "user.slice/user-1000.slice/user@1000.service/app.slice/cgroup.controllers": "memory pids\n",
        "user.slice/user-1000.slice/user@1000.service/app.slice/cgroup.subtree_control": "memory pids\n",
        "user.slice/user-1000.slice/user@1000.service/app.slice/skiff.service/cgroup.controllers": "memory pids\n",
        "user.slice/user-1000.slice/user@1000.service/app.slice/skiff.service/cgroup.procs": "1234\n",
    ]
    static let delegation = "user.slice/user-1000.slice/user@1000.service"

    func recordedRoot(_ tree: [String: String] = recordedTree) throws -> String {
        var template = Array("/tmp/skiff-cgroup2-test.XXXXXX".utf8CString)
        let root = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        for (path, content) in tree {
            let file = root + "/" + path
            try FileSystem.makeDirectories(String(file[..<file.lastIndex(of: "/")!]), mode: 0o755)
            try FileSystem.writeAtomically(file, Array(content.utf8), mode: 0o644)
        }
        return root
    }

    func text(_ path: String) -> String? {
        (try? FileSystem.readFile(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as RuntimeError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    // MARK: - layout and delegation

    static let v2Mountinfo = """
        23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """
    static let hybridMountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    static let v1Mountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        """

    @Test(arguments: [
        (v2Mountinfo, CgroupHost.Layout.unified, "/sys/fs/cgroup" as String?),
        (hybridMountinfo, .hybrid, "/sys/fs/cgroup/unified"),
        (v1Mountinfo, .v1, nil),
        ("23 1 0:21 / /sys rw - sysfs sysfs rw\n", CgroupHost.Layout.none, nil),
    ])
    func layoutIsDetectedFromMountinfo(mountinfo: String, layout: CgroupHost.Layout, unified: String?) {
        let host = CgroupHost.detect(mountinfo: mountinfo, selfCgroup: "0::/user.slice/x.scope\n")
        #expect(host.layout == layout)
        #expect(host.unifiedMount == unified)
        #expect(host.ownPath == "/user.slice/x.scope")
    }

    @Test func rootlessBaseIsTheHighestWritableAncestorOfTheOwnCgroup() {
        let host = CgroupHost(layout: .unified, unifiedMount: "/sys/fs/cgroup",
                              ownPath: "/user.slice/user-1000.slice/user@1000.service/app.slice/skiff.service")
        let writable = { (path: String) in path.hasPrefix("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service") }
        #expect(host.v2Base(isRoot: false, configured: nil, canWrite: writable)
                == "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service")
        // A login session's scope is root's: no delegation, no cgroups.
        let session = CgroupHost(layout: .unified, unifiedMount: "/sys/fs/cgroup", ownPath: "/user.slice/user-1000.slice/session-3.scope")
        #expect(session.v2Base(isRoot: false, configured: nil, canWrite: writable) == nil)
        // As root: the mount on v2; on a hybrid host v1 keeps the containers.
        #expect(host.v2Base(isRoot: true, configured: nil, canWrite: { _ in true }) == "/sys/fs/cgroup")
        let hybrid = CgroupHost(layout: .hybrid, unifiedMount: "/sys/fs/cgroup/unified", ownPath: "/")
        #expect(hybrid.v2Base(isRoot: true, configured: nil, canWrite: { _ in true }) == nil)
        #expect(hybrid.v2Base(isRoot: false, configured: nil, canWrite: { _ in false }) == nil)
        // A configured parent must be on the cgroup2 mount, and writable.
        #expect(hybrid.v2Base(isRoot: true, configured: "/sys/fs/cgroup/unified/t//", canWrite: { _ in true })
                == "/sys/fs/cgroup/unified/t")
        #expect(hybrid.v2Base(isRoot: true, configured: "/sys/fs/cgroup/memory/t", canWrite: { _ in true }) == nil)
        #expect(hybrid.v2Base(isRoot: false, configured: "/sys/fs/cgroup/unified/t", canWrite: { _ in false }) == nil)
    }

    // MARK: - limits

    @Test(arguments: [(UInt64(2), UInt64(1)), (1024, 39), (512, 20), (262_144, 10_000), (1, 1), (1_000_000, 10_000)])
    func cpuSharesBecomeCPUWeightAsRuncConvertsThem(shares: UInt64, weight: UInt64) {
        #expect(CgroupV2.cpuWeight(shares: shares) == weight)
    }

    @Test func limitsAreTheV2Files() {
        let r = Spec.Resources(pidsLimit: 100, memoryLimit: 64 << 20, memoryReservation: 32 << 20, memorySwap: 128 << 20,
                               cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000)
        #expect(CgroupV2.limits(r).map { "\($0.controller) \($0.file)=\($0.value)" } == [
            "pids pids.max=100", "memory memory.max=67108864", "memory memory.low=33554432",
            "memory memory.swap.max=67108864", "cpu cpu.weight=20", "cpu cpu.max=50000 100000",
        ])
        // Unlimited forms; a quota without a period gets the kernel's 100 ms.
        let unlimited = Spec.Resources(pidsLimit: -1, memoryLimit: 64 << 20, memorySwap: -1, cpuQuota: -1, cpuPeriod: 0)
        #expect(CgroupV2.limits(unlimited).map { "\($0.file)=\($0.value)" } == [
            "pids.max=max", "memory.max=67108864", "memory.swap.max=max", "cpu.max=max 100000",
        ])
        // memory+swap equal to memory: no swap at all.
        #expect(CgroupV2.swapMax(memorySwap: 64 << 20, memory: 64 << 20) == "0")
        #expect(CgroupV2.swapMax(memorySwap: 64 << 20, memory: nil) == nil)
    }

    @Test func createEnablesTheControllersDownTheDelegationAndWritesTheLimits() throws {
        let root = try recordedRoot()
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let r = Spec.Resources(pidsLimit: 100, memoryLimit: 64 << 20, memorySwap: 128 << 20, cpuShares: 1024)
        let cgroup = try CgroupV2.plan(id: "c1", resources: r, cgroupsPath: nil, base: base, emulated: true)
        #expect(cgroup.path == base + "/skiff/c1")
        try cgroup.create(context: "create c1")
        // user@1000.service offered cpu but had not enabled it: now it has; skiff/ gets all three
        // (cpuset and io are not delegated: not enabled, and no limit needs them).
        #expect(text(base + "/cgroup.subtree_control") == "memory pids cpu")
        #expect(text(base + "/skiff/cgroup.subtree_control") == "cpu memory pids")
        #expect(text(base + "/skiff/c1/cgroup.controllers") == "cpu memory pids")
        #expect(text(base + "/skiff/c1/pids.max") == "100")
        #expect(text(base + "/skiff/c1/memory.max") == "67108864")
        #expect(text(base + "/skiff/c1/memory.swap.max") == "67108864")
        #expect(text(base + "/skiff/c1/cpu.weight") == "39")
        try cgroup.add(pid: 4321, context: "create c1")
        #expect(text(base + "/skiff/c1/cgroup.procs") == "4321")
        #expect(cgroup.recorded == ["unified": base + "/skiff/c1"])
        #expect(cgroup.remove().isEmpty)
        #expect(access(base + "/skiff/c1", F_OK) != 0)
        #expect(access(base + "/skiff", F_OK) == 0)   // kept for the next container
    }

    @Test func aLimitWhoseControllerIsNotDelegatedIsRefusedAndNothingIsLeft() throws {
        var tree = Self.recordedTree
        tree[Self.delegation + "/cgroup.controllers"] = "memory pids\n"   // Delegate=pids memory
        let root = try recordedRoot(tree)
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let cgroup = try CgroupV2.plan(id: "c2", resources: Spec.Resources(memoryLimit: 64 << 20, cpuQuota: 50_000),
                                       cgroupsPath: nil, base: base, emulated: true)
        #expect(message { try cgroup.create(context: "create c2") } == "create c2: cgroup \(base)/skiff/c2: the cpu controller "
                + "is not delegated (cgroup.controllers: \"memory pids\"): cpu.max cannot be applied")
        #expect(access(base + "/skiff/c2", F_OK) != 0)
        #expect(access(base + "/skiff", F_OK) != 0)
    }

    @Test(arguments: [(UInt16(10), UInt64(1)), (500, 4950), (1000, 10_000), (100, 910), (5, 1), (2000, 10_000)])
    func blkioWeightBecomesIOWeightAsRuncConvertsIt(blkio: UInt16, weight: UInt64) {
        #expect(CgroupV2.ioWeight(blkioWeight: blkio) == weight)
    }

    @Test func cpusetAndBlkioWeightAreTheV2Files() throws {
        let r = Spec.Resources(cpusetCpus: "0-1", cpusetMems: "0", blkioWeight: 500)
        let writes = CgroupV2.limits(r)
        #expect(writes.map { "\($0.controller) \($0.file)=\($0.value)" } == [
            "cpuset cpuset.cpus=0-1", "cpuset cpuset.mems=0", "io io.weight=4950",
        ])
        // Where the cgroup has io.bfq.weight (the BFQ scheduler), the weight goes there as given.
        let root = try recordedRoot(["c/io.weight": "default 100\n"])
        defer { FileIO.removeTree(root) }
        #expect(writes[2].resolved(in: root + "/c") == ("io.weight", "4950"))
        try FileSystem.writeAtomically(root + "/c/io.bfq.weight", Array("default 100\n".utf8), mode: 0o644)
        #expect(writes[2].resolved(in: root + "/c") == ("io.bfq.weight", "500"))
    }

    @Test func createWritesCpusetAndIOWeightWhereTheyAreDelegated() throws {
        // Delegate=yes: systemd gives user@1000.service every controller its parents offer.
        var tree = Self.recordedTree
        tree["user.slice/cgroup.subtree_control"] = "cpuset cpu io memory pids\n"
        tree["user.slice/user-1000.slice/cgroup.controllers"] = "cpuset cpu io memory pids\n"
        tree["user.slice/user-1000.slice/cgroup.subtree_control"] = "cpuset cpu io memory pids\n"
        tree[Self.delegation + "/cgroup.controllers"] = "cpuset cpu io memory pids\n"
        let root = try recordedRoot(tree)
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let cgroup = try CgroupV2.plan(id: "c3", resources: Spec.Resources(cpusetCpus: "1", cpusetMems: "0", blkioWeight: 1000),
                                       cgroupsPath: nil, base: base, emulated: true)
        try cgroup.create(context: "create c3")
        #expect(text(base + "/skiff/c3/cgroup.controllers") == "cpuset cpu io memory pids")
        #expect(text(base + "/skiff/c3/cpuset.cpus") == "1")
        #expect(text(base + "/skiff/c3/cpuset.mems") == "0")
        #expect(text(base + "/skiff/c3/io.weight") == "10000")
        #expect(cgroup.remove().isEmpty)
    }

    @Test func cpusetOrIOWeightWithoutTheirControllerAreRefused() throws {
        // systemd's default delegation (cpu memory pids): no cpuset, no io.
        let root = try recordedRoot()
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let cpuset = try CgroupV2.plan(id: "c4", resources: Spec.Resources(cpusetCpus: "0"), cgroupsPath: nil, base: base,
                                       emulated: true)
        #expect(message { try cpuset.create(context: "create c4") } == "create c4: cgroup \(base)/skiff/c4: the cpuset "
                + "controller is not delegated (cgroup.controllers: \"cpu memory pids\"): cpuset.cpus cannot be applied")
        let io = try CgroupV2.plan(id: "c5", resources: Spec.Resources(blkioWeight: 300), cgroupsPath: nil, base: base,
                                   emulated: true)
        #expect(message { try io.create(context: "create c5") } == "create c5: cgroup \(base)/skiff/c5: the io "
                + "controller is not delegated (cgroup.controllers: \"cpu memory pids\"): io.weight cannot be applied")
        #expect(access(base + "/skiff/c4", F_OK) != 0 && access(base + "/skiff/c5", F_OK) != 0)
    }

    @Test func freezeOOMAndTheStateRecord() throws {
        let root = try recordedRoot()
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let cgroup = try CgroupV2.plan(id: "c3", resources: nil, cgroupsPath: nil, base: base, emulated: true)
        try cgroup.create(context: "create c3")
        defer { cgroup.remove() }
        #expect(!cgroup.isFrozen)
        try cgroup.freeze(context: "pause c3")
        #expect(cgroup.isFrozen)
        try cgroup.thaw(context: "resume c3")
        #expect(!cgroup.isFrozen)
        #expect(!cgroup.oomKilled)
        // memory.events, hand-written (no public recording of the file with a named source was
        // found; Tests/Fixtures/cgroup2/README.md). The keys and their order are the kernel's
        // (Documentation/admin-guide/cgroup-v2.rst); the counts are what the kernel's own
        // selftest asserts after one allocation past memory.max, swap off: `oom 1`, `oom_kill 1`
        // (torvalds/linux tools/testing/selftests/cgroup/test_memcontrol.c,
        // test_memcg_oom_events, commit 00c010e130e58301db2ea0cec1eadc931e1cb8cf).
        for (events, killed) in [("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", true),
                                  // Only the kill counted here, the `oom` in the parent whose equal
                                  // limit was hit first (containerd PR #6323, a pod's slice and scope).
                                  ("low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\noom_group_kill 0\n", true),
                                  // An OOM that killed nothing (the kernel doc's `oom` without `oom_kill`).
                                  ("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n", false),
                                  // memory.oom.group: the selftest's test_memcg_oom_group_score_events
                                  // counts three kills.
                                  ("low 0\nhigh 0\nmax 5\noom 1\noom_kill 3\noom_group_kill 1\n", true)] {
            try FileSystem.writeAtomically(cgroup.path + "/memory.events", Array(events.utf8))
            #expect(cgroup.oomKilled == killed, "\(events)")
        }
        // state.json's record reads back as v2, never as v1 controllers.
        let again = try #require(CgroupV2(recorded: cgroup.recorded))
        #expect(again.path == cgroup.path && again.emulated)
        #expect(CgroupV1(recorded: cgroup.recorded) == nil)
        #expect(CgroupV2(recorded: ["memory": "/sys/fs/cgroup/memory/skiff/x"]) == nil)
    }
}

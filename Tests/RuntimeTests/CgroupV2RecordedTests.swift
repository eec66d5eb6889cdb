import OCI
import Platform
import Testing
@testable import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// The cgroup v2 manager against files recorded on real cgroup v2 hosts (Tests/Fixtures/cgroup2,
/// whose README names each file's source): the delegation chain of systemd issue #9733 (every
/// level's cgroup.subtree_control `memory pids`) and user@1000.service's cgroup.controllers under
/// systemd's default delegation as runc's docs show it (`memory pids`). Served from a temporary
/// directory through `CgroupV2` with an injected base, the code path a v2 host runs.
struct CgroupV2RecordedTests {
    static let fixtures: String = {
        // #filePath: .../Tests/RuntimeTests/<this file>; the fixtures are in .../Tests/Fixtures.
        let tests = String(#filePath).split(separator: "/").dropLast(2)
        return "/" + tests.joined(separator: "/") + "/Fixtures/cgroup2/recorded"
    }()
    static let delegation = "user.slice/user-1000.slice/user@1000.service"

    static func recorded(_ path: String) throws -> String {
        String(decoding: try FileSystem.readFile(fixtures + "/" + path), as: UTF8.self)
    }

    /// The recorded files, placed where they were read; the rest hand-written, marked.
    static func tree() throws -> [String: String] {
        var tree: [String: String] = [:]
        for level in ["", "user.slice/", "user.slice/user-1000.slice/", delegation + "/"] {
            tree[level + "cgroup.subtree_control"] = try recorded("systemd-9733/" + level + "cgroup.subtree_control")
        }
        tree[delegation + "/cgroup.controllers"] = try recorded("runc-docs/user@1000.service.cgroup.controllers")
        // hand-written: the root's controllers (the kernel's list on a 5.x host); a child's
        // controllers are its parent's subtree_control (the kernel's rule), so derived.
        tree["cgroup.controllers"] = "cpuset cpu io memory hugetlb pids rdma misc\n"
        tree["user.slice/cgroup.controllers"] = tree["cgroup.subtree_control"]
        tree["user.slice/user-1000.slice/cgroup.controllers"] = tree["user.slice/cgroup.subtree_control"]
        // hand-written: the service's own cgroup below the delegation.
        tree[delegation + "/cgroup.procs"] = ""
        tree[delegation + "/app.slice/skiff.service/cgroup.procs"] = "1234\n"
        return tree
    }

    /// The recorded tree in a temporary directory, and the helpers, as CgroupV2Tests has them.
    func root() throws -> String { try CgroupV2Tests().recordedRoot(Self.tree()) }
    func text(_ path: String) -> String? { CgroupV2Tests().text(path) }
    func message(_ body: () throws -> Void) -> String? { CgroupV2Tests().message(body) }

    @Test func theRecordingsAgree() throws {
        // runc's docs and the #9733 host show the same default delegation from two sides:
        // user@1000.service is offered what user-1000.slice enables.
        #expect(try Self.recorded("runc-docs/user@1000.service.cgroup.controllers") == "memory pids\n")
        #expect(try Self.recorded("systemd-9733/user.slice/user-1000.slice/cgroup.subtree_control") == "memory pids\n")
    }

    @Test func memoryAndPidsLimitsApplyUnderTheRecordedDelegation() throws {
        let root = try root()
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let r = Spec.Resources(pidsLimit: 100, memoryLimit: 64 << 20, memoryReservation: 16 << 20, memorySwap: 128 << 20)
        let cgroup = try CgroupV2.plan(id: "r1", resources: r, cgroupsPath: nil, base: base, emulated: true)
        try cgroup.create(context: "create r1")
        defer { cgroup.remove() }
        // user@1000.service had memory and pids enabled already (recorded): left as it was.
        #expect(text(base + "/cgroup.subtree_control") == "memory pids\n")
        #expect(text(base + "/skiff/cgroup.controllers") == "memory pids")
        #expect(text(base + "/skiff/cgroup.subtree_control") == "memory pids")
        #expect(text(base + "/skiff/r1/pids.max") == "100")
        #expect(text(base + "/skiff/r1/memory.max") == "67108864")
        #expect(text(base + "/skiff/r1/memory.low") == "16777216")
        #expect(text(base + "/skiff/r1/memory.swap.max") == "67108864")
    }

    @Test(arguments: [
        (Spec.Resources(cpuShares: 512), "cpu", "cpu.weight"),
        (Spec.Resources(cpuQuota: 50_000, cpuPeriod: 100_000), "cpu", "cpu.max"),
        (Spec.Resources(cpusetCpus: "0"), "cpuset", "cpuset.cpus"),
        (Spec.Resources(blkioWeight: 300), "io", "io.weight"),
    ])
    func limitsWithoutTheirControllerAreRefusedUnderTheRecordedDelegation(resources: Spec.Resources, controller: String,
                                                                         file: String) throws {
        let root = try root()
        defer { FileIO.removeTree(root) }
        let base = root + "/" + Self.delegation
        let cgroup = try CgroupV2.plan(id: "r2", resources: resources, cgroupsPath: nil, base: base, emulated: true)
        #expect(message { try cgroup.create(context: "create r2") } == "create r2: cgroup \(base)/skiff/r2: the \(controller) "
                + "controller is not delegated (cgroup.controllers: \"memory pids\"): \(file) cannot be applied")
        #expect(access(base + "/skiff/r2", F_OK) != 0)
        #expect(text(base + "/cgroup.subtree_control") == "memory pids\n")
    }
}

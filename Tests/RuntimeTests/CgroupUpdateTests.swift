import OCI
import Platform
import Testing
@testable import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-runtime update`'s writes: their order against the current memory+swap limit, and the
/// refusal of a limit whose controller the container lacks.
struct CgroupUpdateTests {
    static func tree(memsw: String) throws -> (String, CgroupV1) {
        var template = Array("/tmp/skiff-cgupdate-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw RuntimeError(.system, "mkdtemp failed") }
        let root = String(cString: made)
        try FileSystem.makeDirectories(root + "/memory/c", mode: 0o755)
        try FileSystem.makeDirectories(root + "/pids/c", mode: 0o755)
        try FileSystem.writeAtomically(root + "/memory/c/memory.memsw.limit_in_bytes", Array(memsw.utf8), durable: false)
        let cgroups = CgroupV1(directories: [.init(controller: "pids", path: root + "/pids/c"),
                                             .init(controller: "memory", path: root + "/memory/c")], emulated: true)
        return (root, cgroups)
    }

    @Test func memoryAndSwapAreWrittenInTheOrderTheKernelAccepts() throws {
        let (root, cgroups) = try CgroupUpdateTests.tree(memsw: "67108864\n")
        defer { FileSystem.removeTree(root) }
        // Up: memory+swap first (memory may never exceed it).
        let up = try CgroupV1.updateWrites(Spec.Resources(pidsLimit: 20, memoryLimit: 128 << 20, memorySwap: 256 << 20),
                                           cgroups: cgroups, context: "update c")
        #expect(up.map(\.file) == ["pids.max", "memory.memsw.limit_in_bytes", "memory.limit_in_bytes"])
        // Down: memory first.
        let down = try CgroupV1.updateWrites(Spec.Resources(memoryLimit: 16 << 20, memorySwap: 32 << 20),
                                             cgroups: cgroups, context: "update c")
        #expect(down.map(\.file) == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"])
        #expect(try CgroupV1.updateWrites(Spec.Resources(pidsLimit: -1), cgroups: cgroups, context: "update c").map(\.value) == ["max"])
    }

    @Test func aLimitWithoutItsControllerIsRefused() throws {
        let (root, cgroups) = try CgroupUpdateTests.tree(memsw: "67108864\n")
        defer { FileSystem.removeTree(root) }
        let error = #expect(throws: RuntimeError.self) {
            _ = try CgroupV1.updateWrites(Spec.Resources(cpuShares: 512), cgroups: cgroups, context: "update c")
        }
        #expect(error?.code == .unsupported)
        #expect(error?.message == "update c: the container has no cpu cgroup: its cpu limits cannot change while it runs (it was started without one)")
    }

    @Test func cpusetAndBlkioWeightAreRefusedOnV1() throws {
        let (root, cgroups) = try CgroupUpdateTests.tree(memsw: "67108864\n")
        defer { FileSystem.removeTree(root) }
        for limits in [Spec.Resources(cpusetCpus: "0"), Spec.Resources(cpusetMems: "0"), Spec.Resources(blkioWeight: 300)] {
            let error = #expect(throws: RuntimeError.self) {
                _ = try CgroupV1.updateWrites(limits, cgroups: cgroups, context: "update c")
            }
            #expect(error?.code == .unsupported)
            #expect(error?.message == "update c: cpuset and blkio weight are not applied on cgroup v1: they cannot change while it runs")
        }
    }
}

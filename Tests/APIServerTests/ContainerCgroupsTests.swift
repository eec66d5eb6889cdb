import Glibc
import Platform
import Testing
@testable import APIServer

/// The limits a create puts in the bundle (Docker's checks and defaults where they are applied),
/// and the freezer file the service writes, against a directory tree standing in for
/// /sys/fs/cgroup.
struct ContainerCgroupsTests {
    /// `<root>/<c>/tasks` for each controller (+ memory.memsw.limit_in_bytes with `swap`).
    static func fakeRoot(_ controllers: [String] = ["pids", "memory", "freezer", "cpu"], swap: Bool = true) throws -> String {
        var template = Array("/tmp/skiff-service-cgroup.XXXXXX".utf8CString)
        let root = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        for c in controllers {
            try FileSystem.makeDirectories(root + "/" + c, mode: 0o755)
            try FileSystem.writeAtomically(root + "/\(c)/tasks", [], mode: 0o644)
        }
        if swap { try FileSystem.writeAtomically(root + "/memory/memory.memsw.limit_in_bytes", Array("0\n".utf8)) }
        return root
    }

    static func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            let error = APIError.from(error)
            return "\(error.status.code) \(error.message)"
        }
    }

    @Test func appliedOnlyAsRootWithTheV1Hierarchies() throws {
        let root = try Self.fakeRoot()
        defer { FileSystem.removeTree(root) }
        #expect(ContainerCgroups.applied(isRootless: false, root: root))
        #expect(!ContainerCgroups.applied(isRootless: true, root: root))
        let partial = try Self.fakeRoot(["pids", "memory"])
        defer { FileSystem.removeTree(partial) }
        #expect(!ContainerCgroups.applied(isRootless: false, root: partial))
    }

    @Test func dockersDefaultsAndConversions() throws {
        let root = try Self.fakeRoot()
        defer { FileSystem.removeTree(root) }
        var host = CreateRequest.HostConfig()
        host.memory = 32 << 20
        host.cpuShares = 512
        host.nanoCpus = 500_000_000
        var (r, warnings) = try ContainerPlanner.cgroupResources(host, warnings: [], cgroupRoot: root, cpus: 2)
        #expect(r == ContainerSpecInput.Resources(memoryLimit: 32 << 20, memorySwap: 64 << 20, cpuShares: 512,
                                                   cpuQuota: 50_000, cpuPeriod: 100_000))
        #expect(warnings.isEmpty)
        host.memorySwap = -1
        host.nanoCpus = 0
        host.cpuQuota = 20_000
        host.cpuPeriod = 50_000
        host.cpusetCpus = "0"
        (r, warnings) = try ContainerPlanner.cgroupResources(host, warnings: [], cgroupRoot: root, cpus: 2)
        #expect(r.memorySwap == -1 && r.cpuQuota == 20_000 && r.cpuPeriod == 50_000)
        #expect(warnings == ["Resource limits CpusetCpus are recorded but not applied: no cpuset cgroup hierarchy is mounted"])

        // In the bundle: linux.resources with pids first.
        var input = ContainerSpecTests.input(rootless: false)
        input.pidsLimit = 20
        input.resources = r
        let spec = ContainerSpec.build(input).json
        #expect(spec["linux"]?["resources"]?.text
                == #"{"pids":{"limit":20},"memory":{"limit":33554432,"swap":-1},"cpu":{"shares":512,"quota":20000,"period":50000}}"#)
        #expect(ContainerSpec.build(ContainerSpecTests.input()).json["linux"]?["resources"] == nil)
    }

    @Test func withoutSwapAccountingOrACPUHierarchyTheyAreDroppedWithDockersWarnings() throws {
        let root = try Self.fakeRoot(["pids", "memory", "freezer"], swap: false)
        defer { FileSystem.removeTree(root) }
        var host = CreateRequest.HostConfig()
        host.memory = 32 << 20
        host.cpuShares = 512
        let (r, warnings) = try ContainerPlanner.cgroupResources(host, warnings: [], cgroupRoot: root, cpus: 2)
        #expect(r == ContainerSpecInput.Resources(memoryLimit: 32 << 20, memorySwap: -1))
        #expect(warnings.count == 2)
        #expect(warnings[0].hasPrefix("Your kernel does not support swap limit capabilities"))
    }

    @Test(arguments: [
        (#"{"Memory":4194304}"#, "400 Minimum memory limit allowed is 6MB"),
        (#"{"Memory":33554432,"MemorySwap":16777216}"#, "400 Minimum memoryswap limit should be larger than memory limit, see usage"),
        (#"{"MemorySwap":16777216}"#, "400 You should always set the Memory limit when using Memoryswap limit, see usage"),
        (#"{"MemoryReservation":1048576}"#, "400 Minimum memory reservation allowed is 6MB"),
        (#"{"Memory":8388608,"MemoryReservation":16777216}"#,
         "400 Minimum memory limit can not be less than memory reservation limit, see usage"),
        (#"{"NanoCpus":1000000000,"CpuPeriod":100000}"#, "400 Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (#"{"NanoCpus":1000000000,"CpuQuota":100000}"#, "400 Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (#"{"NanoCpus":3000000000}"#, "400 Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
        (#"{"CpuPeriod":10}"#, "400 CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        (#"{"CpuQuota":10}"#, "400 CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ])
    func dockersChecks(_ hostConfig: String, _ expected: String) throws {
        let root = try Self.fakeRoot()
        defer { FileSystem.removeTree(root) }
        let host = try CreateRequest.decode(Array(#"{"Image":"busybox","HostConfig":\#(hostConfig)}"#.utf8)).hostConfig
        #expect(Self.message { _ = try ContainerPlanner.cgroupResources(host, warnings: [], cgroupRoot: root, cpus: 2) } == expected)
    }
}

import Platform
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// `docker stats` from a cgroup v2 cgroup of the container's own (ResourceReader+V2), against a
/// cgroup2 tree as a v2 host shows it (cpu, memory, pids and io delegated), in a temporary
/// directory, with a fake /proc naming it on the `0::` line.
struct ResourceV2Tests {
    static func makeTree(limited: Bool = true) throws -> String {
        var template = Array("/tmp/skiff-resources-v2-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw EngineError(.internal, "mkdtemp failed") }
        let root = String(cString: made)
        func write(_ path: String, _ text: String) throws {
            let full = root + "/" + path
            try FileSystem.makeDirectories(String(full[..<full.lastIndex(of: "/")!]), mode: 0o755)
            try FileSystem.writeAtomically(full, Array(text.utf8), durable: false)
        }
        let service = "/user.slice/user-1000.slice/user@1000.service/app.slice/skiff.service"
        let container = "/user.slice/user-1000.slice/user@1000.service/skiff/c1"
        try write("proc/100/stat", "100 (sleep) S 1 1 1 0 -1 0 0 0 0 0 3 2 0 0 20 0 1 0 99 1000 10 0\n")
        try write("proc/100/cgroup", "0::\(container)\n")
        try write("proc/55/cgroup", "0::\(service)\n")
        try write("proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n")
        let dir = "cg" + container
        try write(dir + "/cgroup.procs", "100\n")
        try write(dir + "/cpu.stat", "usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n"
                  + "nr_periods 10\nnr_throttled 2\nthrottled_usec 3000\nnr_bursts 0\nburst_usec 0\n")
        try write(dir + "/memory.current", "5242880\n")
        try write(dir + "/memory.max", limited ? "67108864\n" : "max\n")
        try write(dir + "/memory.peak", "6291456\n")
        try write(dir + "/memory.stat", "anon 3145728\nfile 2097152\ninactive_file 1048576\nactive_file 1048576\n")
        try write(dir + "/pids.current", "3\n")
        try write(dir + "/pids.max", limited ? "100\n" : "max\n")
        try write(dir + "/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                  + "259:0 rbytes=0 wbytes=512 rios=0 wios=1 dbytes=0 dios=0\n")
        return root
    }

    @Test func aV2CgroupGivesCPUMemoryPidsAndIO() throws {
        let root = try Self.makeTree()
        defer { FileSystem.removeTree(root) }
        var reader = ResourceReader(hostMemory: 1 << 30)
        reader.proc = root + "/proc"
        reader.cgroupRoot = root + "/v1-absent"
        reader.unifiedMount = root + "/cg"
        #expect(reader.ownUnifiedCgroup(pid: 100, monitorPID: 55, mount: reader.unifiedMount)
                == root + "/cg/user.slice/user-1000.slice/user@1000.service/skiff/c1")
        let sample = try #require(reader.sample(pid: 100, monitorPID: 55))
        #expect(sample.cpu.total == 250_000_000)
        #expect(sample.cpu.user == 200_000_000)
        #expect(sample.cpu.kernel == 50_000_000)
        #expect(sample.cpu.periods == 10 && sample.cpu.throttledPeriods == 2 && sample.cpu.throttledTime == 3_000_000)
        #expect(sample.memory?.usage == 5_242_880)
        #expect(sample.memory?.maxUsage == 6_291_456)
        #expect(sample.memory?.limit == 67_108_864)
        #expect(sample.memory?.failcnt == nil)
        #expect(sample.memory?.stats.map(\.0) == ["anon", "file", "inactive_file", "active_file"])
        #expect(sample.pids?.current == 3 && sample.pids?.limit == 100)
        #expect(sample.blockIO?.map { "\($0.major):\($0.minor) \($0.op) \($0.value)" }
                == ["8:0 read 4096", "8:0 write 8192", "259:0 read 0", "259:0 write 512"])
    }

    @Test func maxIsNoLimit() throws {
        let root = try Self.makeTree(limited: false)
        defer { FileSystem.removeTree(root) }
        var reader = ResourceReader(hostMemory: 1 << 30)
        reader.proc = root + "/proc"
        reader.cgroupRoot = root + "/v1-absent"
        reader.unifiedMount = root + "/cg"
        let sample = try #require(reader.sample(pid: 100, monitorPID: 55))
        #expect(sample.memory?.limit == 1 << 30)
        #expect(sample.pids?.limit == nil)
        // The same cgroup as the monitor's: nothing is the container's own.
        #expect(reader.ownUnifiedCgroup(pid: 100, monitorPID: 100, mount: reader.unifiedMount) == nil)
    }

    @Test(arguments: [
        ("", [String]()),
        ("8:0 rbytes=1 wbytes=2\n", ["8:0 read 1", "8:0 write 2"]),
        ("garbage line\n8:16 rios=3 wbytes=x\n", []),
    ])
    func ioStatLines(text: String, expected: [String]) {
        #expect(ResourceReader.ioStat(text).map { "\($0.major):\($0.minor) \($0.op) \($0.value)" } == expected)
    }
}

/// The service's side of cgroup v2 limits: what the base offers decides (ContainerCgroups).
struct ContainerCgroupsV2Tests {
    func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as EngineError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func limitsNeedTheirControllerOffered() throws {
        var host = CreateRequest.HostConfig()
        host.memory = 64 << 20
        host.nanoCpus = 500_000_000
        let (r, warnings) = try ContainerPlanner.cgroupV2Resources(host, pidsLimit: 100, warnings: [], base: "/b",
                                                                    controllers: ["cpu", "memory", "pids"])
        // Swap is accounted with the memory controller: Docker's default of twice the memory.
        #expect(r.memoryLimit == 64 << 20 && r.memorySwap == 128 << 20)
        #expect(r.cpuQuota == 50_000 && r.cpuPeriod == 100_000)
        #expect(warnings.isEmpty)
        #expect(message { _ = try ContainerPlanner.cgroupV2Resources(host, pidsLimit: 100, warnings: [], base: "/b",
                                                                     controllers: ["memory", "pids"]) }
                == "--cpus needs the cpu cgroup controller, which is not delegated to /b (its cgroup.controllers: memory pids)")
        #expect(message { _ = try ContainerPlanner.cgroupV2Resources(CreateRequest.HostConfig(), pidsLimit: 5, warnings: [],
                                                                     base: "/b", controllers: []) }
                == "--pids-limit needs the pids cgroup controller, which is not delegated to /b (its cgroup.controllers: none)")
        // Docker's own checks first, with Docker's messages.
        var small = CreateRequest.HostConfig()
        small.memory = 1 << 20
        #expect(message { _ = try ContainerPlanner.cgroupV2Resources(small, pidsLimit: nil, warnings: [], base: "/b",
                                                                     controllers: []) }
                == "Minimum memory limit allowed is 6MB")
    }

    @Test func cpusetAndBlkioWeightAreAppliedOnV2AndNeedTheirControllers() throws {
        var host = CreateRequest.HostConfig()
        host.cpusetCpus = "0"
        host.cpusetMems = "0"
        host.blkioWeight = 300
        let (r, warnings) = try ContainerPlanner.cgroupV2Resources(host, pidsLimit: nil, warnings: [], base: "/b",
                                                                    controllers: ["cpuset", "cpu", "io", "memory", "pids"])
        #expect(r == ContainerSpecInput.Resources(cpusetCpus: "0", cpusetMems: "0", blkioWeight: 300))
        #expect(warnings.isEmpty)
        #expect(message { _ = try ContainerPlanner.cgroupV2Resources(host, pidsLimit: nil, warnings: [], base: "/b",
                                                                     controllers: ["cpu", "io", "memory", "pids"]) }
                == "--cpuset-cpus needs the cpuset cgroup controller, which is not delegated to /b (its cgroup.controllers: cpu io memory pids)")
        host.cpusetCpus = ""
        host.cpusetMems = ""
        #expect(message { _ = try ContainerPlanner.cgroupV2Resources(host, pidsLimit: nil, warnings: [], base: "/b",
                                                                     controllers: ["cpu", "memory", "pids"]) }
                == "--blkio-weight needs the io cgroup controller, which is not delegated to /b (its cgroup.controllers: cpu memory pids)")
        // Docker's checks first, with Docker's messages.
        host.blkioWeight = 5
        #expect(message { _ = try ContainerPlanner.cgroupV2Resources(host, pidsLimit: nil, warnings: [], base: "/b",
                                                                     controllers: []) }
                == "Range of blkio weight is from 10 to 1000")
        host.blkioWeight = 0
        host.cpusetCpus = "0-999"
        #expect(message { _ = try ContainerPlanner.cgroupResources(host, warnings: [], v2Controllers: ["cpuset"],
                                                                   availableCpus: "0-1") }
                == "Requested CPUs are not available - requested 0-999, available: 0-1")
        host.cpusetCpus = ""
        host.cpusetMems = "1"
        #expect(message { _ = try ContainerPlanner.cgroupResources(host, warnings: [], v2Controllers: ["cpuset"],
                                                                   availableMems: "0") }
                == "Requested memory nodes are not available - requested 1, available: 0")
    }

    @Test(arguments: [("0", true), ("0-1", true), ("1,0", true), ("0-1,1", true), ("2", false), ("0-2", false)])
    func cpuListsAgainstTheAvailableOnes(_ requested: String, _ fits: Bool) {
        #expect((message { try CpusetList.check(requested, available: "0-1", kind: .cpus) } == nil) == fits)
    }

    @Test(arguments: ["a", "1-", "-1", "2-1", "0,,1", "0 1", "1-2-3", ""])
    func malformedListsAreDockersInvalidValue(_ requested: String) {
        #expect(CpusetList(requested) == nil)
        if !requested.isEmpty {
            #expect(message { try CpusetList.check(requested, available: "0-1", kind: .mems) }
                    == "Invalid value \(requested) for cpuset mems")
        }
    }

    @Test func theManagerAndTheDriverName() {
        #expect(ContainerCgroups.manager(isRootless: true, disabled: true, v2Base: "/b") == .disabled)
        #expect(ContainerCgroups.manager(isRootless: true, disabled: false, v2Base: "/b") == .v2(base: "/b"))
        #expect(ContainerCgroups.driverName(.v2(base: "/b")) == "cgroupfs")
        #expect(ContainerCgroups.driverName(.disabled) == "none")
        #expect(ContainerCgroups.driverName(.none) == "none")
        #expect(ContainerCgroups.offers(.none, "pids"))
    }
}

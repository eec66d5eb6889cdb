import Platform
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// Stats read from a /proc and cgroup tree made in a temporary directory, their JSON, the
/// update rules and top's ps output handling.
struct ResourceTests {
    /// A fake /proc with the container's process 100 (two threads, 3 + 2 ticks, 10 pages), its
    /// child 101, a host process 7 in another pid namespace, and a memory cgroup of its own.
    static func makeTree() throws -> String {
        var template = Array("/tmp/skiff-resources-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw EngineError(.internal, "mkdtemp failed") }
        let root = String(cString: made)
        func write(_ path: String, _ text: String) throws {
            let full = root + "/" + path
            try FileSystem.makeDirectories(String(full[..<full.lastIndex(of: "/")!]), mode: 0o755)
            try FileSystem.writeAtomically(full, Array(text.utf8), durable: false)
        }
        func stat(_ pid: Int, utime: Int, stime: Int, threads: Int, rss: Int) -> String {
            // Fields 3..24 after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
            // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
            "\(pid) (sleep (x)) S 1 1 1 0 -1 0 0 0 0 0 \(utime) \(stime) 0 0 20 0 \(threads) 0 99 1000 \(rss) 0\n"
        }
        try write("proc/100/stat", stat(100, utime: 3, stime: 2, threads: 2, rss: 10))
        try write("proc/101/stat", stat(101, utime: 1, stime: 0, threads: 1, rss: 5))
        try write("proc/7/stat", stat(7, utime: 50, stime: 50, threads: 1, rss: 1000))
        try write("proc/100/io", "rchar: 1\nread_bytes: 4096\nwrite_bytes: 8192\n")
        try write("proc/101/io", "read_bytes: 4096\nwrite_bytes: 0\n")
        try write("proc/100/cgroup", "9:name=systemd:/\n4:memory:/skiff/c1\n8:pids:/\n2:cpuacct:/\n0::/\n")
        try write("proc/55/cgroup", "9:name=systemd:/\n4:memory:/\n8:pids:/\n2:cpuacct:/\n0::/\n")
        try write("proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n")
        try write("cg/memory/skiff/c1/memory.usage_in_bytes", "1048576\n")
        try write("cg/memory/skiff/c1/memory.max_usage_in_bytes", "2097152\n")
        try write("cg/memory/skiff/c1/memory.limit_in_bytes", "9223372036854771712\n")
        try write("cg/memory/skiff/c1/memory.failcnt", "0\n")
        try write("cg/memory/skiff/c1/memory.stat", "cache 4096\nrss 8192\ntotal_inactive_file 1024\n")
        try write("cg/memory/skiff/c1/cgroup.procs", "100\n101\n")
        return root
    }

    @Test func aSampleReadsItsOwnMemoryCgroupAndSumsTheRestFromProc() throws {
        let root = try ResourceTests.makeTree()
        defer { FileSystem.removeTree(root) }
        var reader = ResourceReader(hostMemory: 1 << 30)
        reader.proc = root + "/proc"
        reader.cgroupRoot = root + "/cg"
        let own = reader.ownCgroups(pid: 100, monitorPID: 55)
        #expect(own == ["memory": root + "/cg/memory/skiff/c1"])
        let sample = try #require(reader.sample(pid: 100, monitorPID: 55))
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        #expect(sample.cpu.user == 4 * 1_000_000_000 / ticks)
        #expect(sample.cpu.kernel == 2 * 1_000_000_000 / ticks)
        #expect(sample.cpu.total == sample.cpu.user + sample.cpu.kernel)
        #expect(sample.cpu.system == 1000 * 1_000_000_000 / ticks)
        #expect(sample.cpu.onlineCPUs == 2)
        // The cgroup's memory, its limit capped at the host's memory.
        #expect(sample.memory?.usage == 1_048_576)
        #expect(sample.memory?.maxUsage == 2_097_152)
        #expect(sample.memory?.limit == 1 << 30)
        #expect(sample.memory?.stats.map(\.0) == ["cache", "rss", "total_inactive_file"])
        // No pids cgroup of its own: threads of the cgroup's processes.
        #expect(sample.pids?.current == 3)
        #expect(sample.blockIO?.map(\.value) == [8192, 8192, 16384])
        #expect(reader.sample(pid: 999, monitorPID: 55) == nil)
    }

    @Test func withoutCgroupsMemoryIsTheResidentPagesAgainstTheHostsMemory() throws {
        let root = try ResourceTests.makeTree()
        defer { FileSystem.removeTree(root) }
        var reader = ResourceReader(hostMemory: 1 << 30)
        reader.proc = root + "/proc"
        reader.cgroupRoot = root + "/cg"
        // The monitor is in the same cgroups: nothing is the container's own. The fake /proc has
        // no namespaces, so its members are the process alone.
        let sample = try #require(reader.sample(pid: 100, monitorPID: 100))
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        #expect(sample.memory?.usage == 10 * page)
        #expect(sample.memory?.limit == 1 << 30)
        #expect(sample.memory?.stats.map(\.0) == ["rss", "total_rss"])
        #expect(sample.pids?.current == 2)
    }

    @Test func aDocumentOfZerosIsDockers() {
        let text = String(decoding: ResourceSample().json(previous: nil, name: "/idle", id: "abc").bytes, as: UTF8.self)
        #expect(text == #"{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},"#
            + #""blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"io_queue_recursive":null,"#
            + #""io_service_time_recursive":null,"io_wait_time_recursive":null,"io_merged_recursive":null,"#
            + #""io_time_recursive":null,"sectors_recursive":null},"num_procs":0,"storage_stats":{},"#
            + #""cpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"#
            + #""throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"#
            + #""precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"#
            + #""throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"memory_stats":{},"#
            + #""name":"/idle","id":"abc"}"#)
    }

    @Test(arguments: [
        (#"{"Memory": 1000}"#, "Minimum memory limit allowed is 6MB"),
        (#"{"Memory": 67108864, "MemorySwap": 33554432}"#, "Minimum memoryswap limit should be larger than memory limit, see usage"),
        (#"{"NanoCpus": 1000000000, "CpuQuota": 50000}"#, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (#"{"CpuQuota": 10}"#, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (#"{"NanoCpus": 64000000000}"#, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
        (#"{"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}"#,
         "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        (#"{"PidsLimit": "x"}"#, "invalid JSON: json: cannot unmarshal string into Go struct field UpdateConfig.PidsLimit of type int64"),
    ])
    func updateRequestsDockerRefuses(body: String, message: String) throws {
        let error = #expect(throws: EngineError.self) {
            _ = try ContainerUpdateRules.verify(try UpdateRequest.decode(Array(body.utf8)), cpus: 2)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == message)
    }

    @Test func mergeKeepsWhatIsNotChangedAndRefusesDockersConflicts() throws {
        var limits = ContainerUpdateRules.Limits()
        limits.memory = 32 << 20
        limits.memorySwap = 64 << 20
        limits.nanoCpus = 500_000_000
        var u = UpdateRequest()
        u.memory = 128 << 20
        #expect(throws: EngineError.self) { try ContainerUpdateRules.merge(u, into: &limits, autoRemove: false).get() }
        u.memorySwap = 256 << 20
        try ContainerUpdateRules.merge(u, into: &limits, autoRemove: false).get()
        #expect(limits.memory == 128 << 20 && limits.memorySwap == 256 << 20 && limits.nanoCpus == 500_000_000)
        var cpu = UpdateRequest()
        cpu.cpuQuota = 20_000
        let conflict = #expect(throws: EngineError.self) { try ContainerUpdateRules.merge(cpu, into: &limits, autoRemove: false).get() }
        #expect(conflict?.message == "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
        var restart = UpdateRequest()
        restart.restartPolicy = CreateRequest.RestartPolicy(name: "always", maximumRetryCount: 0)
        let autoRemove = #expect(throws: EngineError.self) { try ContainerUpdateRules.merge(restart, into: &limits, autoRemove: true).get() }
        #expect(autoRemove?.message == "Restart policy cannot be updated because AutoRemove is enabled for the container")
        #expect(try ContainerUpdateRules.runtimeFlags(cpu, limits).isEmpty == false)
    }

    @Test func topKeepsTheContainersRowsAndJoinsTheLastColumn() throws {
        let output = "  PID   LWP COMMAND\n   10    10 sh -c x\n    -    11 worker\n   20    20 other\n   30    30 sleep 5\n"
        let (titles, rows) = try ContainerTop.parse(output, pids: [10, 30])
        #expect(titles == ["PID", "LWP", "COMMAND"])
        #expect(rows == [["10", "10", "sh -c x"], ["-", "11", "worker"], ["30", "30", "sleep 5"]])
        #expect(throws: EngineError.self) { try ContainerTop.parse("COMMAND\nsh\n", pids: [1]) }
        let renamed = #expect(throws: EngineError.self) { try ContainerTop.validate("-o user=PID") }
        #expect(renamed?.message == #"specifying "user=PID" is not allowed"#)
        try ContainerTop.validate("-o pid=PID,comm")
        try ContainerTop.validate("aux")
    }
}

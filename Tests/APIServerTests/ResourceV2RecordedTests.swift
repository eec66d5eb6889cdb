import Platform
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// `docker stats` (ResourceReader+V2) from cpu.stat, memory.stat and io.stat recorded on real
/// cgroup v2 hosts (Tests/Fixtures/cgroup2, whose README names each file's source), served from
/// a temporary directory with a fake /proc naming the cgroup on the `0::` line.
struct ResourceV2RecordedTests {
    static let fixtures: String = {
        // #filePath: .../Tests/APIServerTests/<this file>; the fixtures are in .../Tests/Fixtures.
        let tests = String(#filePath).split(separator: "/").dropLast(2)
        return "/" + tests.joined(separator: "/") + "/Fixtures/cgroup2/recorded"
    }()

    static func recorded(_ name: String) throws -> String {
        String(decoding: try FileSystem.readFile(fixtures + "/" + name), as: UTF8.self)
    }

    static func makeTree() throws -> String {
        var template = Array("/tmp/skiff-resources-v2-recorded-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw EngineError(.internal, "mkdtemp failed") }
        let root = String(cString: made)
        func write(_ path: String, _ text: String) throws {
            let full = root + "/" + path
            try FileSystem.makeDirectories(String(full[..<full.lastIndex(of: "/")!]), mode: 0o755)
            try FileSystem.writeAtomically(full, Array(text.utf8), durable: false)
        }
        let container = "/user.slice/user-1000.slice/user@1000.service/skiff/c1"
        try write("proc/100/stat", "100 (sleep) S 1 1 1 0 -1 0 0 0 0 0 3 2 0 0 20 0 1 0 99 1000 10 0\n")
        try write("proc/100/cgroup", "0::\(container)\n")
        try write("proc/55/cgroup", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/skiff.service\n")
        try write("proc/stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n")
        let dir = "cg" + container
        // recorded
        try write(dir + "/cpu.stat", try recorded("datadog-cpu.stat"))
        try write(dir + "/memory.stat", try recorded("runc-memory.stat"))
        try write(dir + "/io.stat", try recorded("runc-io.stat"))
        // hand-written: single numbers
        try write(dir + "/cgroup.procs", "100\n")
        try write(dir + "/memory.current", "33554432\n")
        try write(dir + "/memory.max", "max\n")
        try write(dir + "/pids.current", "7\n")
        try write(dir + "/pids.max", "max\n")
        return root
    }

    @Test func recordedFilesGiveDockerStats() throws {
        let root = try Self.makeTree()
        defer { FileSystem.removeTree(root) }
        var reader = ResourceReader(hostMemory: 1 << 40)
        reader.proc = root + "/proc"
        reader.cgroupRoot = root + "/v1-absent"
        reader.unifiedMount = root + "/cg"
        let sample = try #require(reader.sample(pid: 100, monitorPID: 55))
        // cpu.stat: microseconds as nanoseconds, throttling as recorded (none).
        #expect(sample.cpu.total == 5_616_647_428_000)
        #expect(sample.cpu.user == 3_569_637_760_000)
        #expect(sample.cpu.kernel == 2_047_009_667_000)
        #expect(sample.cpu.periods == 0 && sample.cpu.throttledPeriods == 0 && sample.cpu.throttledTime == 0)
        #expect(sample.cpu.perCPU == nil)
        // memory.stat: every recorded key, in the kernel's order, with its value.
        let stats = try #require(sample.memory?.stats)
        #expect(stats.count == 53)
        #expect(stats.prefix(3).map(\.0) == ["anon", "file", "kernel"])
        #expect(stats.first { $0.0 == "anon" }?.1 == 6_121_017_344)
        #expect(stats.first { $0.0 == "file" }?.1 == 26_672_709_632)
        #expect(stats.first { $0.0 == "inactive_file" }?.1 == 20_126_994_432)
        #expect(stats.first { $0.0 == "active_file" }?.1 == 6_537_940_992)
        #expect(stats.last?.0 == "thp_collapse_alloc")
        #expect(sample.memory?.usage == 33_554_432)
        #expect(sample.memory?.limit == 1 << 40)   // "max": the host's memory
        #expect(sample.pids?.current == 7 && sample.pids?.limit == nil)
        // io.stat: per device, read and write bytes (dbytes/dios and rios/wios are not Docker's).
        #expect(sample.blockIO?.map { "\($0.major):\($0.minor) \($0.op) \($0.value)" } == [
            "254:1 read 6901432320", "254:1 write 14245535744",
            "254:0 read 2702336", "254:0 write 0",
            "259:0 read 6911345664", "259:0 write 14245536256",
        ])
    }

    @Test func theRecordedIOStatParsesWithoutItsLastNewline() throws {
        // runc's constant had none; the reader takes the last line either way.
        let text = try Self.recorded("runc-io.stat")
        let trimmed = String(text.dropLast())
        #expect(ResourceReader.ioStat(trimmed).count == 6)
        #expect(ResourceReader.ioStat(text) == ResourceReader.ioStat(trimmed))
    }
}

import Platform
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Liveness: only a process known to be gone is `gone`.
struct ProcessStatTests {
    @Test func thisProcessIsAlive() throws {
        let info = try #require(ProcessStat.read(getpid()))
        #expect(ProcessStat.probe(getpid(), startTime: info.startTime) == .alive)
        #expect(ProcessStat.isAlive(getpid(), startTime: info.startTime))
    }

    @Test func anotherStartTimeIsAnotherProcess() throws {
        let info = try #require(ProcessStat.read(getpid()))
        #expect(ProcessStat.probe(getpid(), startTime: info.startTime + 1) == .gone)
    }

    @Test func aReapedChildIsGone() throws {
        let child = try Spawn.start(["/bin/true"])
        let info = ProcessStat.read(child)
        _ = Spawn.wait(child)
        #expect(ProcessStat.probe(child, startTime: info?.startTime ?? 0) == .gone)
        #expect(!ProcessStat.isAlive(child, startTime: info?.startTime ?? 0))
    }

    @Test func noPidIsGone() {
        #expect(ProcessStat.probe(0, startTime: 0) == .gone)
        #expect(ProcessStat.probe(-1, startTime: 0) == .gone)
    }
}

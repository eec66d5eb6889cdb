import Glibc
import Platform
import Testing
@testable import ContainerLogs

/// Issue 12, item 10: what the log writer does when writes fail (a full disk). The C relay's
/// writer (CRelay's log.c, the one a running container's output goes through) is checked on a
/// real full file system by Tests/integration/test_full_disk.py.
struct LogWriterFaultTests {
    @Test func aTornRecordLeftByAKilledWriterIsCutWhenTheLogIsOpened() throws {
        let s = LogScratch()
        let whole = "2023-11-14T22:13:20.000000005Z stdout F one\n"
        try FileSystem.writeAtomically(s.path, Array((whole + "2023-11-14T22:13:21.000000005Z stdout F tw").utf8), mode: 0o600)
        let writer = try LogWriter(path: s.path)
        try writer.append(Array("three\n".utf8), stream: .stdout, time: at(1_700_000_002))
        #expect(try s.text() == whole + "2023-11-14T22:13:22.000000000Z stdout F three\n")
        #expect(text(try LogReader(path: s.path).records(.init())) == "one\nthree\n")
    }

    @Test func aLogWithoutAnyWholeRecordStartsEmpty() throws {
        let s = LogScratch()
        try FileSystem.writeAtomically(s.path, Array("2023-11-14T22:13:20.0000".utf8), mode: 0o600)
        _ = try LogWriter(path: s.path)
        #expect(try s.text() == "")
    }

    @Test func bytesThatCannotBeWrittenAreCountedPerStream() throws {
        // /dev/full: every write fails with ENOSPC.
        let writer = try LogWriter(path: "/dev/full")
        #expect(throws: LogError.self) { try writer.append(Array("one\ntwo".utf8), stream: .stdout) }
        #expect(throws: LogError.self) { try writer.append(Array("err\n".utf8), stream: .stderr) }
        // The second append tried the stdout marker first, and failed there: its bytes count too.
        #expect(writer.lostBytes == [7, 4])
    }

    @Test func theMarkerSaysHowManyBytesOfWhichStreamAndWhy() {
        #expect(LogWriter.lossMarker(bytes: 1234, stream: .stdout, errno: ENOSPC)
                == "skiff: 1234 bytes of stdout were not logged: No space left on device")
    }
}

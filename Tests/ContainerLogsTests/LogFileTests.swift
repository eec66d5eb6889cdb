import Glibc
import Platform
import Testing
@testable import ContainerLogs

/// A log file in a fresh temp dir.
final class LogScratch {
    let directory: String
    var path: String { directory + "/ctr.log" }

    init() {
        var template = Array("/tmp/skiff-logs-test-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { FileSystem.removeTree(directory) }

    func text() throws -> String { String(decoding: try FileSystem.readFile(path), as: UTF8.self) }
}

func at(_ seconds: Int, _ nanos: Int = 0) -> timespec { timespec(tv_sec: seconds, tv_nsec: nanos) }

func text(_ records: [LogRecord]) -> String { String(decoding: records.flatMap(\.bytes), as: UTF8.self) }

struct LogFileTests {
    @Test func linesBecomeFullAndPartialRecords() throws {
        let s = LogScratch()
        let writer = try LogWriter(path: s.path)
        try writer.append(Array("one\ntwo\nthr".utf8), stream: .stdout, time: at(1_700_000_000, 5))
        try writer.append(Array("ee\n".utf8), stream: .stdout, time: at(1_700_000_001))
        try writer.append(Array("oops\n".utf8), stream: .stderr, time: at(1_700_000_002, 123_456_789))
        #expect(try s.text() == """
            2023-11-14T22:13:20.000000005Z stdout F one
            2023-11-14T22:13:20.000000005Z stdout F two
            2023-11-14T22:13:20.000000005Z stdout P thr
            2023-11-14T22:13:21.000000000Z stdout F ee
            2023-11-14T22:13:22.123456789Z stderr F oops

            """)
        let records = try LogReader(path: s.path).records(.init())
        #expect(text(records) == "one\ntwo\nthree\noops\n")
        #expect(records.map(\.isPartial) == [false, false, true, false, false])
        #expect(records[4].stream == .stderr && records[4].time.tv_nsec == 123_456_789)
        #expect(text(try LogReader(path: s.path).records(.init(stdout: false))) == "oops\n")
    }

    @Test func emptyLinesAndBinaryBytesSurvive() throws {
        let s = LogScratch()
        let writer = try LogWriter(path: s.path)
        let bytes: [UInt8] = [0x0A, 0x00, 0xFF, 0x20, 0x0A]
        try writer.append(bytes, stream: .stdout, time: at(10))
        #expect(try LogReader(path: s.path).records(.init()).flatMap(\.bytes) == bytes)
    }

    @Test func tailCountsLinesNotRecords() throws {
        let s = LogScratch()
        let writer = try LogWriter(path: s.path)
        for i in 0..<10 { try writer.append(Array("line \(i)\n".utf8), stream: .stdout, time: at(100 + i)) }
        try writer.append(Array("split ".utf8), stream: .stdout, time: at(200))
        try writer.append(Array("line\n".utf8), stream: .stdout, time: at(201))
        #expect(text(try LogReader(path: s.path).records(.init(tail: 2))) == "line 9\nsplit line\n")
        #expect(text(try LogReader(path: s.path).records(.init(tail: 0))) == "")
        #expect(try LogReader(path: s.path).records(.init(tail: 100)).count == 12)
    }

    @Test func sinceAndUntilFindTheirPlaceInALargeFile() throws {
        let s = LogScratch()
        let writer = try LogWriter(path: s.path)
        // About 3 MB: the binary search has to narrow it down.
        let filler = String(repeating: "x", count: 100)
        for i in 0..<30_000 { try writer.append(Array("\(i) \(filler)\n".utf8), stream: i % 2 == 0 ? .stdout : .stderr, time: at(1000 + i)) }
        let reader = try LogReader(path: s.path)
        let window = try reader.records(.init(since: at(1000 + 20_000), until: at(1000 + 20_003)))
        #expect(window.map { String(decoding: $0.bytes.prefix { $0 != 0x20 }, as: UTF8.self) } == ["20000", "20001", "20002"])
        #expect(try reader.records(.init(since: at(1_000_000))).isEmpty)
        #expect(try reader.records(.init(since: at(0))).count == 30_000)
        let last = try reader.records(.init(since: at(1000 + 29_999, 1)))
        #expect(last.isEmpty)
    }

    @Test func followingSeesWhatIsAppendedLater() throws {
        let s = LogScratch()
        let writer = try LogWriter(path: s.path)
        try writer.append(Array("before\n".utf8), stream: .stdout, time: at(1))
        let reader = try LogReader(path: s.path)
        #expect(text(try reader.records(.init())) == "before\n")
        #expect(try reader.more(.init()).isEmpty)
        try writer.append(Array("after\n".utf8), stream: .stdout, time: at(2))
        #expect(text(try reader.more(.init())) == "after\n")
    }

    @Test func timesRoundTrip() {
        let time = at(1_709_210_096, 7)
        let text = LogRecord.format(time)
        #expect(text == "2024-02-29T12:34:56.000000007Z")
        #expect(LogRecord.parseTime(text[...]).map { ($0.tv_sec, $0.tv_nsec) } ?? (0, 0) == (1_709_210_096, 7))
        #expect(LogRecord.parseTime("2024-02-29T12:34:56.5Z").map { $0.tv_nsec } == 500_000_000)
    }

    @Test func dockerFraming() {
        #expect(StreamFrame.frame(.stderr, Array("hi\n".utf8)[...]) == [2, 0, 0, 0, 0, 0, 0, 3, 0x68, 0x69, 0x0A])
        #expect(StreamFrame.frame(.stdout, ArraySlice(repeating: 0, count: 0x0102)).prefix(8) == [1, 0, 0, 0, 0, 0, 1, 2])
    }
}

/// The one-pass copy (`copy`, whose tail reads the file backwards) against the whole-file
/// reader (`records`): the same bytes for every tail, stream selection and since, on a log with partial records, both streams and lines
/// crossing the 64 KiB blocks the tail scan reads.
struct TailScanTests {
    @Test func batchedReadingMatchesWholeFileReading() throws {
        let log = LogScratch()
        let writer = try LogWriter(path: log.path)
        var generator = SystemRandomNumberGenerator()
        var second = 1_700_000_000
        for i in 0..<3000 {
            let stream: LogStream = Int.random(in: 0..<3, using: &generator) == 0 ? .stderr : .stdout
            var line = "line \(i) " + String(repeating: "x", count: Int.random(in: 0..<200, using: &generator))
            if i % 7 == 0 { line += "\n" } else if i % 5 != 0 { line += "\n" }   // some partial writes
            try writer.append(Array(line.utf8), stream: stream, time: at(second, i))
            if i % 100 == 0 { second += 1 }
        }
        let reader = try LogReader(path: log.path)
        for tail in [nil, 0, 1, 2, 3, 10, 999, 5000] as [Int?] {
            for (stdout, stderr) in [(true, true), (true, false), (false, true)] {
                for since in [nil, at(1_700_000_010)] as [timespec?] {
                    let options = LogReader.Options(since: since, tail: tail, stdout: stdout, stderr: stderr)
                    let whole = try LogReader(path: log.path).records(options)
                    var copied: [UInt8] = []
                    try reader.copy(options, as: LogEncoding(multiplexed: false, timestamps: false), chunkBytes: 8 << 10) {
                        copied += $0
                    }
                    #expect(copied == whole.flatMap(\.bytes),
                            "tail \(String(describing: tail)) stdout \(stdout) stderr \(stderr) since \(since != nil)")
                }
            }
        }
    }

    @Test func fixedTimesParseWithoutStrings() {
        for seconds in [0, 1, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let time = at(seconds, 123_456_789)
            let text = LogRecord.format(time)
            let parsed = LogRecord.parseFixedTime(Array(text.utf8)[...])
            #expect(parsed?.tv_sec == seconds && parsed?.tv_nsec == 123_456_789, "\(text)")
        }
        #expect(LogRecord.parseFixedTime(Array("2024-13-01T00:00:00.000000000Z".utf8)[...]) == nil)
        #expect(LogRecord.parseFixedTime(Array("2024-01-01T00:00:00Z".utf8)[...]) == nil)
    }
}

/// `copy` (one pass over the bytes, frames shared by runs of one stream) says what `records`
/// says, once frames are taken apart: same streams, same bytes, in the same order.
struct LogCopyTests {
    /// Stream runs: consecutive bytes of one stream joined.
    func runs(_ pieces: [(LogStream, [UInt8])]) -> [(LogStream, [UInt8])] {
        var result: [(LogStream, [UInt8])] = []
        for (stream, bytes) in pieces where !bytes.isEmpty {
            if let last = result.last, last.0 == stream { result[result.count - 1].1 += bytes } else { result.append((stream, bytes)) }
        }
        return result
    }

    func demux(_ bytes: [UInt8]) -> [(LogStream, [UInt8])] {
        var pieces: [(LogStream, [UInt8])] = []
        var i = 0
        while i + 8 <= bytes.count {
            let size = Int(bytes[i + 4]) << 24 | Int(bytes[i + 5]) << 16 | Int(bytes[i + 6]) << 8 | Int(bytes[i + 7])
            pieces.append((bytes[i] == 1 ? .stdout : .stderr, Array(bytes[(i + 8)..<(i + 8 + size)])))
            i += 8 + size
        }
        #expect(i == bytes.count)
        return pieces
    }

    @Test func copyMatchesRecords() throws {
        let log = LogScratch()
        let writer = try LogWriter(path: log.path)
        var generator = SystemRandomNumberGenerator()
        for i in 0..<4000 {
            let stream: LogStream = Int.random(in: 0..<4, using: &generator) == 0 ? .stderr : .stdout
            var line = "l\(i)" + String(repeating: "y", count: Int.random(in: 0..<50, using: &generator))
            if i % 9 != 0 { line += "\n" }
            try writer.append(Array(line.utf8), stream: stream, time: at(1_700_000_000 + i / 50, i * 7))
        }
        for tail in [nil, 0, 3, 100] as [Int?] {
            for (stdout, stderr) in [(true, true), (false, true)] {
                for since in [nil, at(1_700_000_040)] as [timespec?] {
                    for timestamps in [false, true] {
                        let options = LogReader.Options(since: since, tail: tail, stdout: stdout, stderr: stderr)
                        let records = try LogReader(path: log.path).records(options)
                        let expected = runs(records.map { r in
                            (r.stream, (timestamps ? Array((LogRecord.format(r.time) + " ").utf8) : []) + r.bytes)
                        })
                        var framed: [UInt8] = []
                        try LogReader(path: log.path).copy(options, as: LogEncoding(multiplexed: true, timestamps: timestamps),
                                                           chunkBytes: 4096) { framed += $0 }
                        let got = runs(demux(framed))
                        #expect(got.map(\.0) == expected.map(\.0) && got.map(\.1) == expected.map(\.1),
                                "tail \(String(describing: tail)) since \(since != nil) ts \(timestamps)")
                        var raw: [UInt8] = []
                        try LogReader(path: log.path).copy(options, as: LogEncoding(multiplexed: false, timestamps: timestamps)) { raw += $0 }
                        #expect(raw == expected.flatMap(\.1))
                    }
                }
            }
        }
        // until: stops at the first record at or after it.
        let until = at(1_700_000_010)
        var bytes: [UInt8] = []
        try LogReader(path: log.path).copy(LogReader.Options(until: until), as: LogEncoding(multiplexed: false, timestamps: false)) { bytes += $0 }
        #expect(bytes == (try LogReader(path: log.path).records(LogReader.Options(until: until))).flatMap(\.bytes))
    }
}

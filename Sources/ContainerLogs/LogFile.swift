import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A container's log file, in the k8s-file layout conmon writes, one record per line:
///
///     2024-01-02T03:04:05.000000001Z stdout F hello
///
/// time (UTC, always nine fraction digits, so records sort as text and a time can be found by
/// binary search), stream, `F` for a full line (its newline dropped) or `P` for a partial one
/// (output that did not end in a newline before it was written out), then the bytes. The
/// monitor appends; `docker logs` reads with since/until/tail and follows the file as it grows.
public enum LogStream: String, Sendable, Equatable {
    case stdout, stderr

    /// The stream byte of Docker's multiplexed framing.
    public var frameType: UInt8 { self == .stdout ? 1 : 2 }
}

/// One record: what the container wrote, with the time it was read.
public struct LogRecord: Sendable, Equatable {
    public var time: timespec
    public var stream: LogStream
    /// The bytes, with the newline restored for a full line.
    public var bytes: [UInt8]
    public var isPartial: Bool

    public init(time: timespec, stream: LogStream, bytes: [UInt8], isPartial: Bool) {
        self.time = time
        self.stream = stream
        self.bytes = bytes
        self.isPartial = isPartial
    }

    public static func == (a: LogRecord, b: LogRecord) -> Bool {
        a.time.tv_sec == b.time.tv_sec && a.time.tv_nsec == b.time.tv_nsec && a.stream == b.stream
            && a.bytes == b.bytes && a.isPartial == b.isPartial
    }

    /// `2024-01-02T03:04:05.000000001Z`: fixed width, UTC.
    public static func format(_ time: timespec) -> String {
        var seconds = time.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-" + pad(Int(parts.tm_mday), 2)
            + "T" + pad(Int(parts.tm_hour), 2) + ":" + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
            + "." + pad(Int(time.tv_nsec), 9) + "Z"
    }

    /// `format`'s own layout read straight from bytes (no String): the log reader parses one
    /// per record. Nil for anything else (`parseTime` reads the general form).
    static func parseFixedTime(_ b: ArraySlice<UInt8>) -> timespec? {
        guard b.count == 30 else { return nil }
        let i = b.startIndex
        func digits(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for k in 0..<count {
                let c = b[i + from + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b[i + 4] == 0x2D, b[i + 7] == 0x2D, b[i + 10] == 0x54, b[i + 13] == 0x3A, b[i + 16] == 0x3A,
              b[i + 19] == 0x2E, b[i + 29] == 0x5A,
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2),
              let minute = digits(14, 2), let second = digits(17, 2), let nanos = digits(20, 9),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return timespec(tv_sec: days * 86_400 + hour * 3600 + minute * 60 + second, tv_nsec: nanos)
    }

    /// The inverse of `format` (and of any RFC 3339 time with a `Z` or offset).
    public static func parseTime(_ text: Substring) -> timespec? {
        let string = String(text)
        guard let seconds = Timestamp.parseRFC3339(string) else { return nil }
        var nanos = 0
        if let dot = string.firstIndex(of: ".") {
            var digits = 0
            for c in string[string.index(after: dot)...] {
                guard let d = c.wholeNumberValue else { break }
                if digits < 9 { nanos = nanos * 10 + d }
                digits += 1
            }
            for _ in digits..<9 where digits < 9 { nanos *= 10 }
        }
        return timespec(tv_sec: Int(seconds), tv_nsec: nanos)
    }
}

/// Appends records; one `write(2)` per chunk so that a reader never sees half of one. The C relay
/// (CRelay's log.c, which writes the log while a container runs) follows the same rules: a write
/// that fails part way (a full disk) is cut back to the last whole record, so the next record
/// starts clean; what could not be written is counted, and a marker record says so
/// (`lossMarker`) before the next record that can be written.
public final class LogWriter {
    public let path: String
    private let fd: Int32
    /// The container's bytes not logged since the last marker, per stream (stdout, stderr).
    public private(set) var lostBytes: [Int] = [0, 0]
    private var lostReason: Int32 = 0
    /// The open file (O_APPEND, close-on-exec), for a process that takes over the appending
    /// (skiff-relay).
    public var descriptor: Int32 { fd }

    /// Opens (creates) the log. A file that does not end with a record's newline (a writer
    /// killed in the middle of one) is cut back to its last whole record first.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LogError("open \(path): \(String(cString: strerror(errno)))") }
        LogWriter.cutTornRecord(fd)
    }

    deinit { close(fd) }

    /// What `docker logs` shows in the place of `bytes` of `stream` the log could not take
    /// (as CRelay's LOG_LOSS_MARKER_FORMAT).
    public static func lossMarker(bytes: Int, stream: LogStream, errno: Int32) -> String {
        "skiff: \(bytes) bytes of \(stream.rawValue) were not logged: \(String(cString: strerror(errno)))"
    }

    /// Writes `bytes` read from `stream` at `time`: a record per line, and a partial record for
    /// what follows the last newline; the markers for earlier losses first. Throws when the
    /// bytes could not be logged (they are counted for the next marker).
    public func append(_ bytes: UnsafeRawBufferPointer, stream: LogStream, time: timespec = Timestamp.now()) throws {
        guard bytes.count > 0 else { return }
        var missing = bytes.count
        do {
            try writeLossMarkers(time: time)
            try write(bytes, stream: stream, time: time, missing: &missing)
        } catch let error as WriteFailure {
            lostBytes[stream == .stdout ? 0 : 1] += missing
            lostReason = error.errno
            throw LogError("write \(path): \(String(cString: strerror(error.errno)))")
        }
    }

    public func append(_ bytes: [UInt8], stream: LogStream, time: timespec = Timestamp.now()) throws {
        try bytes.withUnsafeBytes { try append($0, stream: stream, time: time) }
    }

    private struct WriteFailure: Error {
        var errno: Int32
    }

    /// The markers for what was lost, each in its stream.
    private func writeLossMarkers(time: timespec) throws {
        for (index, stream) in [LogStream.stdout, .stderr].enumerated() where lostBytes[index] > 0 {
            let marker = Array((LogWriter.lossMarker(bytes: lostBytes[index], stream: stream, errno: lostReason) + "\n").utf8)
            var ignored = 0
            try marker.withUnsafeBytes { try write($0, stream: stream, time: time, missing: &ignored) }
            lostBytes[index] = 0
        }
    }

    /// One write of the records of `bytes`; on a failure the file keeps the whole records
    /// written, and `missing` is the count of `bytes` not in them.
    private func write(_ bytes: UnsafeRawBufferPointer, stream: LogStream, time: timespec, missing: inout Int) throws {
        let prefix = Array("\(LogRecord.format(time)) \(stream.rawValue) ".utf8)
        var record: [UInt8] = []
        record.reserveCapacity(bytes.count + (prefix.count + 3) * 2)
        // Where each record ends in `record`, and where its bytes start in `bytes`.
        var boundaries: [(recordEnd: Int, sourceStart: Int)] = []
        var start = 0
        while start < bytes.count {
            let newline = bytes[start...].firstIndex(of: 0x0A)
            let end = newline ?? bytes.count
            record += prefix
            record.append(newline == nil ? UInt8(ascii: "P") : UInt8(ascii: "F"))
            record.append(0x20)
            record += bytes[start..<end]
            record.append(0x0A)
            boundaries.append((record.count, start))
            start = end + 1
        }
        let base = lseek(fd, 0, SEEK_END)
        try record.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Syscall.retrying { Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) }
                if n < 0 {
                    let failure = errno
                    let kept = boundaries.last { $0.recordEnd <= offset }?.recordEnd ?? 0
                    if kept < offset && base >= 0 { _ = ftruncate(fd, base + off_t(kept)) }
                    let firstLost = boundaries.first { $0.recordEnd > kept }?.sourceStart ?? bytes.count
                    missing = bytes.count - firstLost
                    throw WriteFailure(errno: failure)
                }
                offset += n
            }
        }
        missing = 0
    }

    /// Cuts the file back to just after its last newline.
    private static func cutTornRecord(_ fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return }
        var end = Int64(info.st_size)
        var block = [UInt8](repeating: 0, count: 4096)
        while end > 0 {
            let size = Int(min(Int64(block.count), end))
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, off_t(end - Int64(size))) }
            guard n == size else { return }
            if let newline = block[0..<size].lastIndex(of: 0x0A) {
                let keep = end - Int64(size) + Int64(newline) + 1
                if keep < Int64(info.st_size) { _ = ftruncate(fd, off_t(keep)) }
                return
            }
            end -= Int64(size)
        }
        _ = ftruncate(fd, 0)
    }
}

public struct LogError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads records with Docker's `logs` options.
public final class LogReader {
    public struct Options: Sendable {
        /// Only records at or after this time.
        public var since: timespec?
        /// Only records before this time.
        public var until: timespec?
        /// Only the last N lines (a partial record and the records completing it count as one).
        public var tail: Int?
        public var stdout = true
        public var stderr = true

        public init(since: timespec? = nil, until: timespec? = nil, tail: Int? = nil,
                    stdout: Bool = true, stderr: Bool = true) {
            self.since = since
            self.until = until
            self.tail = tail
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    public let path: String
    let fd: Int32
    /// Where the next unread record starts.
    public internal(set) var offset: Int64 = 0
    var pending: [UInt8] = []

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LogError("open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// The records now in the file that match `options`. Afterwards `more()` returns what is
    /// appended later (following).
    public func records(_ options: Options) throws -> [LogRecord] {
        var start: Int64 = 0
        if let since = options.since { start = try firstOffset(atOrAfter: since) }
        offset = start
        pending = []
        var result = try readAvailable().filter { matches($0, options) }
        if let tail = options.tail {
            result = lastLines(result, tail)
        }
        return result
    }

    /// Records appended since the last call (complete lines only), filtered by `options`
    /// except `tail`. An empty answer means nothing new yet.
    public func more(_ options: Options) throws -> [LogRecord] {
        try readAvailable().filter { matches($0, options) }
    }

    /// Where the last `lines` lines (of the streams `options` selects) begin: the file is read
    /// backwards in blocks; a full record ends a line, partial records before it belong to it,
    /// and partial records at the very end count as one line.
    func tailOffset(lines: Int, _ options: Options) throws -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LogError("stat \(path): \(String(cString: strerror(errno)))") }
        var end = Int64(info.st_size)
        // Bytes after the last newline are a record still being written: not counted.
        var last: UInt8 = 0x0A
        while end > 0 {
            guard pread(fd, &last, 1, off_t(end - 1)) == 1 else { break }
            if last == 0x0A { break }
            end -= 1
        }
        guard lines > 0 else { return end }
        let fileEnd = end
        var counted = 0
        var carry: [UInt8] = []          // the start of a line whose beginning is in an earlier block
        var lineEnd = end                 // where the record after the one looked at starts
        var sawRecordAfter = false        // a selected record lies after the current position
        var block = [UInt8](repeating: 0, count: 64 << 10)
        while end > 0 {
            let size = Int(min(Int64(block.count), end))
            let from = end - Int64(size)
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, off_t(from)) }
            guard n == size else { throw LogError("read \(path): \(String(cString: strerror(errno)))") }
            var bytes = Array(block[0..<size]) + carry
            // Records in this block, from the last one back; the first (maybe cut) waits.
            var cursor = bytes.count
            if cursor > 0 && bytes[cursor - 1] == 0x0A && from + Int64(size) == fileEnd && carry.isEmpty {
                cursor -= 1   // the file's final newline
            }
            while let newline = bytes[..<cursor].lastIndex(of: 0x0A) {
                let record = bytes[(newline + 1)..<cursor]
                let recordStart = from + Int64(newline + 1)
                if let (stream, partial) = LogReader.streamAndFlag(record),
                   (stream == .stdout ? options.stdout : options.stderr) {
                    if !partial || !sawRecordAfter {
                        if counted == lines { return lineEnd }
                        counted += 1
                    }
                    sawRecordAfter = true
                }
                lineEnd = recordStart
                cursor = newline
            }
            carry = Array(bytes[..<cursor])
            bytes = []
            end = from
        }
        // The first record of the file.
        if let (stream, partial) = LogReader.streamAndFlag(carry[...]),
           (stream == .stdout ? options.stdout : options.stderr), !partial || !sawRecordAfter, counted == lines {
            return lineEnd
        }
        return 0
    }

    /// The stream and whether the record is partial, without parsing the rest.
    static func streamAndFlag(_ line: ArraySlice<UInt8>) -> (LogStream, Bool)? {
        guard let first = line.firstIndex(of: 0x20), let second = line[(first + 1)...].firstIndex(of: 0x20),
              second + 1 < line.endIndex, let stream = stream(line[(first + 1)..<second]) else { return nil }
        return (stream, line[second + 1] == UInt8(ascii: "P"))
    }

    static func stream(_ bytes: ArraySlice<UInt8>) -> LogStream? {
        if bytes.elementsEqual("stdout".utf8) { return .stdout }
        if bytes.elementsEqual("stderr".utf8) { return .stderr }
        return nil
    }

    private func matches(_ record: LogRecord, _ options: Options) -> Bool {
        if record.stream == .stdout && !options.stdout { return false }
        if record.stream == .stderr && !options.stderr { return false }
        if let since = options.since, LogReader.compare(record.time, since) < 0 { return false }
        if let until = options.until, LogReader.compare(record.time, until) >= 0 { return false }
        return true
    }

    private func lastLines(_ records: [LogRecord], _ count: Int) -> [LogRecord] {
        guard count >= 0 else { return records }
        var lines = 0
        var index = records.count
        while index > 0 {
            let record = records[index - 1]
            // A full record ends a line; the partials before it belong to the same line.
            if !record.isPartial || index == records.count {
                if lines == count { break }
                lines += 1
            }
            index -= 1
        }
        return Array(records[index...])
    }

    static func compare(_ a: timespec, _ b: timespec) -> Int {
        if a.tv_sec != b.tv_sec { return a.tv_sec < b.tv_sec ? -1 : 1 }
        if a.tv_nsec != b.tv_nsec { return a.tv_nsec < b.tv_nsec ? -1 : 1 }
        return 0
    }

    /// Reads whole records from `offset` to the end of the file.
    private func readAvailable() throws -> [LogRecord] {
        var result: [LogRecord] = []
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in
                Syscall.retrying { pread(fd, raw.baseAddress, raw.count, off_t(offset) + off_t(pending.count)) }
            }
            if n < 0 {
                throw LogError("read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            pending += buffer[0..<n]
            var lineStart = 0
            while let newline = pending[lineStart...].firstIndex(of: 0x0A) {
                if let record = LogReader.parse(pending[lineStart..<newline]) { result.append(record) }
                lineStart = newline + 1
            }
            offset += Int64(lineStart)
            pending.removeFirst(lineStart)
        }
        return result
    }

    /// One line of the file (without its newline); nil when it is not a record.
    static func parse(_ line: ArraySlice<UInt8>) -> LogRecord? {
        guard let first = line.firstIndex(of: 0x20),
              let second = line[(first + 1)...].firstIndex(of: 0x20),
              let time = LogRecord.parseFixedTime(line[line.startIndex..<first])
                ?? LogRecord.parseTime(Substring(String(decoding: line[line.startIndex..<first], as: UTF8.self))),
              let stream = LogReader.stream(line[(first + 1)..<second]),
              second + 1 < line.endIndex else { return nil }
        let flag = line[second + 1]
        guard flag == UInt8(ascii: "F") || flag == UInt8(ascii: "P") else { return nil }
        let contentStart = min(second + 3, line.endIndex)
        var bytes = Array(line[contentStart...])
        if flag == UInt8(ascii: "F") { bytes.append(0x0A) }
        return LogRecord(time: time, stream: stream, bytes: bytes, isPartial: flag == UInt8(ascii: "P"))
    }

    /// A record start at or before the first record at or after `time` (reading from there and
    /// dropping earlier records gives the answer): a binary search on the file, since records are
    /// appended in time order, that stops within 64 KiB and leaves the rest to the scan.
    func firstOffset(atOrAfter time: timespec) throws -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LogError("stat \(path): \(String(cString: strerror(errno)))") }
        // Invariant: `low` is 0 or the start of a record earlier than `time`.
        var low: Int64 = 0, high = Int64(info.st_size)
        while high - low > 64 << 10 {
            let middle = low + (high - low) / 2
            if let (start, record) = try recordStarting(after: middle), LogReader.compare(record.time, time) < 0 {
                low = start
            } else {
                high = middle
            }
        }
        return low
    }

    /// The first record that starts at or after `position` (position 0 is a record start;
    /// otherwise records start after a newline).
    private func recordStarting(after position: Int64) throws -> (Int64, LogRecord)? {
        var start = position
        var scratch = [UInt8](repeating: 0, count: 4096)
        if position > 0 {
            // Find the newline at or after position - 1.
            var cursor = position - 1
            search: while true {
                let n = scratch.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(cursor)) }
                guard n > 0 else { return nil }
                if let i = scratch[0..<n].firstIndex(of: 0x0A) {
                    start = cursor + Int64(i) + 1
                    break search
                }
                cursor += Int64(n)
            }
        }
        var line: [UInt8] = []
        var cursor = start
        while true {
            let n = scratch.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(cursor)) }
            guard n > 0 else { return nil }
            if let i = scratch[0..<n].firstIndex(of: 0x0A) {
                line += scratch[0..<i]
                break
            }
            line += scratch[0..<n]
            cursor += Int64(n)
        }
        guard let record = LogReader.parse(line[...]) else { return nil }
        return (start, record)
    }
}

/// Docker's multiplexed stream framing (non-TTY attach and logs): an 8-byte header
/// `[stream, 0, 0, 0, size as big-endian UInt32]` before each payload.
public enum StreamFrame {
    public static func frame(_ stream: LogStream, _ payload: ArraySlice<UInt8>) -> [UInt8] {
        let size = UInt32(payload.count)
        var out: [UInt8] = [stream.frameType, 0, 0, 0,
                            UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16),
                            UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
        out += payload
        return out
    }
}

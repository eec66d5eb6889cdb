import Platform

#if canImport(Glibc)
import Glibc
#endif

/// How `docker logs` and attach's log replay want records: Docker's 8-byte frames (no TTY) or
/// raw bytes, with or without the record's time before each one.
public struct LogEncoding: Sendable, Equatable {
    public var multiplexed: Bool
    public var timestamps: Bool

    public init(multiplexed: Bool, timestamps: Bool) {
        self.multiplexed = multiplexed
        self.timestamps = timestamps
    }
}

extension LogReader {
    /// Writes the records `options` selects straight from the file's bytes into output chunks of
    /// about `chunkBytes`, for `docker logs`: one pass, no object per record. Consecutive records
    /// of one stream share a frame (a frame is only a piece of its stream; Docker's clients
    /// join them), so a log of short lines is not sent as millions of 8-byte headers. Afterwards
    /// `more()` continues after the last record read.
    public func copy(_ options: Options, as encoding: LogEncoding, chunkBytes: Int = 256 << 10,
                     _ emit: ([UInt8]) throws -> Void) throws {
        if options.tail != nil && options.until != nil {
            // The tail counts lines before `until`: select first (rare; bounded by the file).
            let records = try self.records(options)
            var out = LogOutput(encoding: encoding, capacity: chunkBytes)
            for record in records {
                let time = Array(LogRecord.format(record.time).utf8)
                record.bytes.withUnsafeBufferPointer { b in
                    out.append(stream: record.stream, time: time[...], content: UnsafeBufferPointer(rebasing: b[...]), newline: false)
                }
                if out.count >= chunkBytes { try emit(out.take()) }
            }
            if out.count > 0 { try emit(out.take()) }
            return
        }
        var start: Int64 = 0
        if let since = options.since { start = try firstOffset(atOrAfter: since) }
        if let tail = options.tail, tail >= 0 { start = max(start, try tailOffset(lines: tail, options)) }
        offset = start
        pending = []
        var out = LogOutput(encoding: encoding, capacity: chunkBytes + (64 << 10))
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var carry = 0          // bytes of an unfinished line at the start of `buffer`
        var stop = false
        while !stop {
            let n = buffer.withUnsafeMutableBytes { raw in
                Syscall.retrying { pread(fd, raw.baseAddress! + carry, raw.count - carry, off_t(offset) + off_t(carry)) }
            }
            if n < 0 {
                throw LogError("read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            let filled = carry + n
            var consumed = 0
            try buffer.withUnsafeBufferPointer { bytes in
                var lineStart = 0
                while lineStart < filled {
                    guard let newline = LogReader.index(of: 0x0A, in: bytes, from: lineStart, to: filled) else { break }
                    let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<newline])
                    lineStart = newline + 1
                    consumed = lineStart
                    guard let record = LogReader.fields(line) else { continue }
                    if record.stream == .stdout ? !options.stdout : !options.stderr { continue }
                    if options.since != nil || options.until != nil {
                        let time = LogRecord.parseFixedTime(ArraySlice(record.time))
                            ?? LogRecord.parseTime(Substring(String(decoding: record.time, as: UTF8.self)))
                        guard let time else { continue }
                        if let since = options.since, LogReader.compare(time, since) < 0 { continue }
                        if let until = options.until, LogReader.compare(time, until) >= 0 { stop = true; break }
                    }
                    out.append(stream: record.stream, time: record.time, content: record.content, newline: !record.partial)
                    if out.count >= chunkBytes { try emit(out.take()) }
                }
            }
            offset += Int64(consumed)
            // Keep the unfinished line for the next read.
            let left = filled - consumed
            if left > 0 && consumed > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + consumed, left)
                }
            }
            carry = left
            if carry == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }   // a line longer than the buffer
        }
        if out.count > 0 { try emit(out.take()) }
    }

    /// The parts of one line, as views into the read buffer: time text, stream, partial flag,
    /// content (without the newline). Nil when the line is not a record.
    static func fields(_ line: UnsafeBufferPointer<UInt8>)
        -> (time: UnsafeBufferPointer<UInt8>, stream: LogStream, partial: Bool, content: UnsafeBufferPointer<UInt8>)? {
        // The common shape: a 30-byte time, "stdout"/"stderr", "F"/"P".
        if line.count >= 39 && line[30] == 0x20 && line[37] == 0x20 && (line.count == 39 || line[39] == 0x20) {
            let stream: LogStream
            if line[31] == UInt8(ascii: "s") && line[32] == UInt8(ascii: "t") && line[33] == UInt8(ascii: "d") {
                if line[34] == UInt8(ascii: "o") && line[35] == UInt8(ascii: "u") && line[36] == UInt8(ascii: "t") {
                    stream = .stdout
                } else if line[34] == UInt8(ascii: "e") && line[35] == UInt8(ascii: "r") && line[36] == UInt8(ascii: "r") {
                    stream = .stderr
                } else { return nil }
            } else { return nil }
            let flag = line[38]
            guard flag == UInt8(ascii: "F") || flag == UInt8(ascii: "P") else { return nil }
            let content = line.count > 40 ? UnsafeBufferPointer(rebasing: line[40...]) : UnsafeBufferPointer(rebasing: line[line.count...])
            return (UnsafeBufferPointer(rebasing: line[0..<30]), stream, flag == UInt8(ascii: "P"), content)
        }
        // Anything else that parses (a time in another RFC 3339 form).
        guard let first = line.firstIndex(of: 0x20), let second = line[(first + 1)...].firstIndex(of: 0x20),
              second + 1 < line.count, let stream = stream(ArraySlice(line[(first + 1)..<second])) else { return nil }
        let flag = line[second + 1]
        guard flag == UInt8(ascii: "F") || flag == UInt8(ascii: "P") else { return nil }
        let contentStart = min(second + 3, line.count)
        return (UnsafeBufferPointer(rebasing: line[0..<first]), stream, flag == UInt8(ascii: "P"),
                UnsafeBufferPointer(rebasing: line[contentStart...]))
    }

    static func index(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), to - from) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
}

/// An output chunk being built: frames are opened per run of one stream and closed (their
/// length written) when the stream changes, the frame is full, or the chunk is taken.
struct LogOutput {
    let encoding: LogEncoding
    private var bytes: [UInt8]
    private var frameStart = -1
    private var frameStream: LogStream = .stdout
    private let capacity: Int
    static let maxFrame = 1 << 16

    init(encoding: LogEncoding, capacity: Int) {
        self.encoding = encoding
        self.capacity = capacity
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    mutating func append(stream: LogStream, time: some Collection<UInt8>, content: UnsafeBufferPointer<UInt8>, newline: Bool) {
        if encoding.multiplexed {
            if frameStart < 0 || frameStream != stream || bytes.count - frameStart - 8 >= LogOutput.maxFrame {
                closeFrame()
                frameStart = bytes.count
                frameStream = stream
                bytes += [stream.frameType, 0, 0, 0, 0, 0, 0, 0]
            }
        }
        if encoding.timestamps {
            if time.count == 30 {
                bytes += time
            } else if let parsed = LogRecord.parseTime(Substring(String(decoding: time, as: UTF8.self))) {
                bytes += LogRecord.format(parsed).utf8
            } else {
                bytes += time
            }
            bytes.append(0x20)
        }
        bytes += content
        if newline { bytes.append(0x0A) }
    }

    private mutating func closeFrame() {
        guard frameStart >= 0 else { return }
        let size = UInt32(bytes.count - frameStart - 8)
        bytes[frameStart + 4] = UInt8(size >> 24)
        bytes[frameStart + 5] = UInt8(truncatingIfNeeded: size >> 16)
        bytes[frameStart + 6] = UInt8(truncatingIfNeeded: size >> 8)
        bytes[frameStart + 7] = UInt8(truncatingIfNeeded: size)
        frameStart = -1
    }

    /// The chunk so far (its last frame closed); the builder starts a new one.
    mutating func take() -> [UInt8] {
        closeFrame()
        let chunk = bytes
        bytes = []
        bytes.reserveCapacity(capacity)
        return chunk
    }
}

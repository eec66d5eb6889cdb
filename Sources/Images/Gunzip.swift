import CLinux
import CZlib
import Glibc
import Platform

/// Something bytes are pulled from: a file, a buffer, a decompressor over another source.
/// `read` fills at most `buffer.count` bytes and returns how many; 0 means the end.
public protocol ByteSource: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int
    /// Moves up to `count` of the next bytes straight into the file `fd` in the kernel, and
    /// returns how many (0 at the end); nil when this source cannot (it transforms its bytes,
    /// or holds some in memory): then `read` them. Only a pipe's bytes can be spliced.
    func splice(to fd: Int32, count: Int) throws(ImageError) -> Int?
}

extension ByteSource {
    public func splice(to fd: Int32, count: Int) throws(ImageError) -> Int? { nil }
}

/// Bytes read from an open file descriptor, closed when the source goes if it `owns` it.
public final class FileByteSource: ByteSource {
    public let fd: Int32
    /// Names the file in errors.
    public let name: String
    private let owns: Bool

    public init(fd: Int32, name: String, owns: Bool = false) {
        self.fd = fd
        self.name = name
        self.owns = owns
    }

    deinit {
        if owns { close(fd) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        let n = Syscall.retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        guard n >= 0 else { throw ImageError(.io, "read \(name): \(String(cString: strerror(errno)))") }
        return n
    }

    /// False once splice(2) refused this pair (not a pipe, or a file system without
    /// splice_write): every later call is nil at once.
    private var splices = true

    public func splice(to out: Int32, count: Int) throws(ImageError) -> Int? {
        guard splices, count > 0 else { return splices ? 0 : nil }
        let n = Syscall.retrying { skiff_splice_from_pipe(fd, out, count) }
        if n >= 0 { return n }
        let code = errno
        if code == EINVAL || code == ESPIPE || code == ENOSYS {
            splices = false
            return nil
        }
        throw ImageError(.io, "splice \(name) into the file: \(String(cString: strerror(code)))", systemErrno: code)
    }
}

/// Bytes held in memory.
public final class BufferByteSource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { all in
            buffer.baseAddress!.copyMemory(from: all.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}

/// Streaming gzip decompression (zlib `inflate`, windowBits 31), itself a `ByteSource`.
///
/// Memory stays bounded whatever the input: a fixed 64 KiB input buffer, zlib's 32 KiB window,
/// and the caller's output buffer. Output beyond `limit` bytes fails with
/// "layer expands beyond the limit of N bytes" as soon as the first byte past the limit is
/// produced, so a gzip bomb costs at most `limit` bytes of work. Concatenated gzip members (as
/// `cat a.gz b.gz` makes, and as parallel compressors write) are read as one stream.
public final class Gunzip: ByteSource {
    /// The most decompressed bytes allowed.
    public let limit: Int
    /// Decompressed bytes produced so far.
    public private(set) var totalOut = 0
    /// Compressed bytes consumed so far.
    public private(set) var totalIn = 0

    private let source: any ByteSource
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    /// The source returned 0.
    private var sourceEnded = false
    /// Between members: the previous member ended and the next has not started.
    private var atMemberBoundary = false
    private var finished = false

    public init(source: any ByteSource, limit: Int, inputBufferSize: Int = 64 << 10) throws(ImageError) {
        precondition(limit >= 0 && inputBufferSize > 0)
        self.source = source
        self.limit = limit
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: inputBufferSize, alignment: 16)
        let status = skiff_inflate_init2(stream, 31)
        guard status == Z_OK else {
            input.deallocate()
            stream.deallocate()
            throw ImageError(.io, "gzip: inflateInit2 failed (\(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    /// Fills `buffer` with decompressed bytes; 0 at the end of the last member.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        guard totalOut <= limit else {
            throw ImageError(.invalidArgument, "layer expands beyond the limit of \(limit) bytes")
        }
        guard !finished, buffer.count > 0 else { return 0 }
        // Allow one byte past the limit so exceeding it is detected, never more.
        let room = min(buffer.count, limit - totalOut + 1)
        stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(room)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 {
                guard try refill() else {
                    if atMemberBoundary {
                        finished = true
                        break
                    }
                    throw ImageError(.invalidArgument, "gzip stream is truncated after \(totalIn) bytes")
                }
            }
            if atMemberBoundary {
                atMemberBoundary = false
                inflateReset(stream)
            }
            let before = stream.pointee.avail_in
            let status = inflate(stream, Z_NO_FLUSH)
            totalIn += Int(before - stream.pointee.avail_in)
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                atMemberBoundary = true
            case Z_BUF_ERROR:
                // No progress possible: more input is needed (handled at the top of the loop).
                if stream.pointee.avail_in != 0 && stream.pointee.avail_out != 0 {
                    throw ImageError(.invalidArgument, "invalid gzip data after \(totalIn) bytes")
                }
            case Z_MEM_ERROR:
                throw ImageError(.io, "gzip: out of memory")
            default:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw ImageError(.invalidArgument, "invalid gzip data after \(totalIn) bytes: \(detail)")
            }
        }
        let produced = room - Int(stream.pointee.avail_out)
        totalOut += produced
        if totalOut > limit {
            throw ImageError(.invalidArgument, "layer expands beyond the limit of \(limit) bytes")
        }
        return produced
    }

    /// Reads more compressed input; false at the end of the source.
    private func refill() throws(ImageError) -> Bool {
        if sourceEnded { return false }
        let n = try source.read(into: input)
        if n == 0 {
            sourceEnded = true
            return false
        }
        stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(n)
        return true
    }
}

import CZstd

/// A streaming zstd decompressor (zstd layers), with the same bounds as `Gunzip`: a fixed input
/// buffer, a window no larger than `maximumWindowLog` (a frame asking for more is refused, so
/// a hostile header cannot make it allocate gigabytes), and a hard limit on the output.
/// Concatenated frames are read as one stream; skippable frames are skipped.
public final class Zstd: ByteSource {
    /// The most decompressed bytes allowed.
    public let limit: Int
    /// Decompressed bytes produced so far.
    public private(set) var totalOut = 0
    /// Compressed bytes consumed so far.
    public private(set) var totalIn = 0

    /// 2^27 = 128 MiB, zstd's default maximum for decoders (what `zstd -d` accepts without
    /// `--long`).
    public static let maximumWindowLog: Int32 = 27

    private let source: any ByteSource
    private let stream: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inputBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var sourceEnded = false
    /// zstd's last return: 0 when a frame is complete (a clean place for the stream to end).
    private var frameComplete = true
    private var finished = false

    public init(source: any ByteSource, limit: Int, inputBufferSize: Int = 128 << 10) throws(ImageError) {
        precondition(limit >= 0 && inputBufferSize > 0)
        guard let stream = ZSTD_createDStream() else { throw ImageError(.io, "zstd: out of memory") }
        self.source = source
        self.limit = limit
        self.stream = stream
        input = .allocate(byteCount: inputBufferSize, alignment: 16)
        ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, Zstd.maximumWindowLog)
    }

    deinit {
        ZSTD_freeDStream(stream)
        input.deallocate()
    }

    /// Fills `buffer` with decompressed bytes; 0 at the end of the last frame.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        guard totalOut <= limit else {
            throw ImageError(.invalidArgument, "layer expands beyond the limit of \(limit) bytes")
        }
        guard !finished, buffer.count > 0 else { return 0 }
        let room = min(buffer.count, limit - totalOut + 1)
        var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: room, pos: 0)
        while output.pos == 0 {
            if inputBuffer.pos == inputBuffer.size {
                guard try refill() else {
                    guard frameComplete else {
                        throw ImageError(.invalidArgument, "zstd stream is truncated after \(totalIn) bytes")
                    }
                    finished = true
                    break
                }
            }
            let before = inputBuffer.pos
            let result = ZSTD_decompressStream(stream, &output, &inputBuffer)
            totalIn += inputBuffer.pos - before
            if ZSTD_isError(result) != 0 {
                let name = String(cString: ZSTD_getErrorName(result))
                throw ImageError(.invalidArgument, "invalid zstd data after \(totalIn) bytes: \(name)")
            }
            frameComplete = result == 0
        }
        totalOut += output.pos
        if totalOut > limit {
            throw ImageError(.invalidArgument, "layer expands beyond the limit of \(limit) bytes")
        }
        return output.pos
    }

    private func refill() throws(ImageError) -> Bool {
        if sourceEnded { return false }
        let n = try source.read(into: input)
        if n == 0 {
            sourceEnded = true
            return false
        }
        inputBuffer = ZSTD_inBuffer(src: UnsafeRawPointer(input.baseAddress), size: n, pos: 0)
        return true
    }
}

/// Layer streams: the decompressor a compression needs, and the hashing that proves a layer is
/// the diff id its image names.
public enum LayerStream {
    /// The most bytes a layer may expand to: as much as a blob may be.
    public static let defaultLimit = Int(BlobStore.defaultLimit)

    /// `source` decompressed as `compression` says, bounded by `limit`.
    public static func decompressed(_ source: any ByteSource, _ compression: MediaType.Compression,
                                    limit: Int = defaultLimit) throws(ImageError) -> any ByteSource {
        switch compression {
        case .none: return LimitedSource(source, limit: limit)
        case .gzip: return try Gunzip(source: source, limit: limit)
        case .zstd: return try Zstd(source: source, limit: limit)
        }
    }

    /// The compression the first bytes of a stream show (gzip and zstd magic), else none.
    public static func sniff(_ magic: [UInt8]) -> MediaType.Compression {
        if magic.count >= 2 && magic[0] == 0x1f && magic[1] == 0x8b { return .gzip }
        if magic.count >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd {
            return .zstd
        }
        return .none
    }
}

/// A source that fails once more than `limit` bytes came through.
public final class LimitedSource: ByteSource {
    private let source: any ByteSource
    public let limit: Int
    public private(set) var total = 0

    public init(_ source: any ByteSource, limit: Int) {
        self.source = source
        self.limit = limit
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        let n = try source.read(into: buffer)
        total += n
        if total > limit { throw ImageError(.invalidArgument, "layer is larger than the limit of \(limit) bytes") }
        return n
    }

    public func splice(to fd: Int32, count: Int) throws(ImageError) -> Int? {
        // At most one byte past the limit is moved: that byte is the refusal.
        guard let n = try source.splice(to: fd, count: min(count, max(limit - total, 0) + 1)) else { return nil }
        total += n
        if total > limit { throw ImageError(.invalidArgument, "layer is larger than the limit of \(limit) bytes") }
        return n
    }
}

/// Passes bytes through while hashing and counting them: the uncompressed layer tar's digest is
/// its diff id.
public final class HashingSource: ByteSource {
    private let source: any ByteSource
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init(_ source: any ByteSource) {
        self.source = source
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        let n = try source.read(into: buffer)
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
        }
        return n
    }

    /// Reads whatever is left (tar's trailing zero blocks, padding a writer added) so the digest
    /// covers the whole stream, then returns it.
    public func finish() throws(ImageError) -> Digest {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { scratch.deallocate() }
        while try read(into: scratch) > 0 {}
        return hasher.finalize()
    }
}

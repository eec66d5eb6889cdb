/// A source whose first bytes were read ahead (to tell its compression from its magic number,
/// where the source is a pipe and cannot be read twice) and are given again before the rest.
public final class PeekedSource: ByteSource {
    /// The bytes read ahead: fewer than asked for only at the end of the source.
    public let peeked: [UInt8]
    private var offset = 0
    private let rest: any ByteSource

    /// Reads up to `count` bytes of `source` ahead.
    public init(_ source: any ByteSource, count: Int) throws(ImageError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 8)
        defer { buffer.deallocate() }
        var got = 0
        while got < count {
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got..<count]))
            if n == 0 { break }
            got += n
        }
        peeked = Array(buffer[..<got])
        rest = source
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        if offset < peeked.count {
            let n = min(buffer.count, peeked.count - offset)
            peeked.withUnsafeBytes { all in
                buffer.baseAddress!.copyMemory(from: all.baseAddress! + offset, byteCount: n)
            }
            offset += n
            return n
        }
        return try rest.read(into: buffer)
    }

    public func splice(to fd: Int32, count: Int) throws(ImageError) -> Int? {
        offset < peeked.count ? nil : try rest.splice(to: fd, count: count)
    }
}

import CZlib

/// Compresses what is written to it into gzip (one member) for another sink: the layers a push
/// sends compressed when they were loaded as plain tars, as Docker pushes them.
public final class GzipSink: ByteSink {
    private let sink: any ByteSink
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    public init(into sink: any ByteSink, level: Int32 = 6) throws(ImageError) {
        self.sink = sink
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(byteCount: 128 << 10, alignment: 16)
        let status = skiff_deflate_init2(stream, level, 31)
        guard status == Z_OK else {
            output.deallocate()
            stream.deallocate()
            throw ImageError(.io, "gzip: deflateInit2 failed (\(status))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        precondition(!finished, "write after finish")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(bytes.count)
        try pump(Z_NO_FLUSH)
    }

    /// Ends the member (trailer with CRC and size) and writes what is left.
    public func finish() throws(ImageError) {
        guard !finished else { return }
        finished = true
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try pump(Z_FINISH)
    }

    private func pump(_ flush: Int32) throws(ImageError) {
        repeat {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(output.count)
            let status = deflate(stream, flush)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw ImageError(.io, "gzip: deflate failed (\(status))")
            }
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[0..<produced])) }
            if flush == Z_FINISH && status == Z_STREAM_END { return }
        } while stream.pointee.avail_out == 0 || (flush == Z_FINISH)
    }
}

extension BlobWriter: ByteSink {}

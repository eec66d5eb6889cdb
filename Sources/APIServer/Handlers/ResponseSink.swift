import Images
import Platform
import Store

/// `docker save` writes straight to the client.
final class ResponseSink: ByteSink {
    private let writer: ResponseWriter

    init(_ writer: ResponseWriter) {
        self.writer = writer
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        do {
            try writer.write(bytes)
        } catch {
            throw ImageError(.io, "\(error)")
        }
    }
}

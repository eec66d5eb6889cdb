import Images

/// The body of a blob as it streams from the registry, checked as it goes: never more than the
/// expected size plus one byte is read, and at the end the size and the digest must match.
/// Failures are StoreErrors (`.corrupt` for content that is not what was asked for, `.io` for
/// the network) so layer code can read it like a file; the RegistryError is kept in `failure`.
public final class BlobReader: ByteSource {
    private let response: HTTPResponse
    public let digest: Digest
    public let expectedSize: Int64?
    public private(set) var failure: RegistryError?
    private var hasher = SHA256()
    private var count: Int64 = 0
    private var finished = false

    init(response: HTTPResponse, digest: Digest, expectedSize: Int64?) {
        self.response = response
        self.digest = digest
        self.expectedSize = expectedSize
    }

    deinit { response.body.close() }

    /// The Content-Length the registry announced.
    public var contentLength: Int64? { response.body.contentLength }

    /// Bytes read so far.
    public var bytesRead: Int64 { count }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        if let failure { throw BlobReader.storeError(failure) }
        if finished || buffer.count == 0 { return 0 }
        var want = buffer.count
        if let expectedSize { want = Int(min(Int64(want), max(1, expectedSize + 1 - count))) }
        let n: Int
        do {
            n = try response.body.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
        } catch {
            throw fail(error)
        }
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            count += Int64(n)
            if let expectedSize, count > expectedSize {
                throw fail(RegistryError(.digestMismatch, "blob \(digest) from \(response.url.authority): "
                                             + "longer than the expected \(expectedSize) bytes"))
            }
            return n
        }
        if let expectedSize, count != expectedSize {
            throw fail(RegistryError(.digestMismatch, "blob \(digest) from \(response.url.authority): "
                                         + "\(count) bytes instead of the expected \(expectedSize)"))
        }
        let actual = hasher.finalize()
        guard actual == digest else {
            throw fail(RegistryError(.digestMismatch, "blob \(digest) from \(response.url.authority): content has digest \(actual)"))
        }
        finished = true
        response.body.close()
        return 0
    }

    /// Releases the connection (kept for reuse only when the body was read to its end).
    public func close() {
        response.body.close()
    }

    private func fail(_ error: RegistryError) -> ImageError {
        failure = error
        response.body.close()
        return BlobReader.storeError(error)
    }

    private static func storeError(_ error: RegistryError) -> ImageError {
        ImageError(error.code == .digestMismatch ? .corrupt : .io, error.message)
    }
}

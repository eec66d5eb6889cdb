import Glibc
import Platform

extension BlobStore {
    /// A writer for one new blob: a fresh 0600 file in `ingest/`, removed again unless `commit`
    /// moves it into place. More than `limit` bytes fail the write.
    public func writer(limit: Int64 = BlobStore.defaultLimit) throws(ImageError) -> BlobWriter {
        try prepareDirectories()
        return try BlobWriter(store: self, limit: limit)
    }

    /// Stores `bytes` in one go (manifests, configs); the digest, checked against `expected` when
    /// given.
    @discardableResult
    public func ingest(_ bytes: [UInt8], expected: Digest? = nil) throws(ImageError) -> Digest {
        let writer = try writer(limit: Int64(bytes.count))
        try writer.write(bytes)
        return try writer.commit(expected: expected, expectedSize: Int64(bytes.count))
    }
}

/// One blob being written: chunks are hashed as they are written to a partial file in
/// `blobs/ingest/`; `commit` checks the digest and size, fsyncs, and renames the file to
/// `blobs/sha256/<hex>`. Any failure, `abort`, or dropping the writer uncommitted removes the
/// partial file, so a failed ingest leaves nothing behind.
///
/// A writer belongs to one thread at a time; different writers (even of the same blob) may run
/// concurrently: each has its own partial file and the final rename is atomic.
public final class BlobWriter {
    public let store: BlobStore
    /// The most bytes this writer accepts.
    public let limit: Int64
    /// The partial file in `ingest/`.
    public let temporaryPath: String
    /// Bytes written so far.
    public private(set) var size: Int64 = 0

    private var fd: Int32
    private var hasher = SHA256()
    private var isFinished = false

    init(store: BlobStore, limit: Int64) throws(ImageError) {
        self.store = store
        self.limit = limit
        var path = ""
        var fd: Int32 = -1
        for _ in 0..<16 {
            path = store.ingestDirectory + "/" + BlobWriter.randomName()
            fd = BlobStore.openRetrying(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw ImageError(.io, "blob ingest: create \(path): \(BlobStore.text(errno))")
        }
        self.fd = fd
        self.temporaryPath = path
    }

    deinit {
        if !isFinished { abort() }
    }

    /// Appends bytes. Going past the limit, or a failed write, aborts the writer and throws.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        guard !isFinished else { throw ImageError(.invalidState, "blob writer already finished") }
        guard bytes.count > 0, let base = bytes.baseAddress else { return }
        guard Int64(bytes.count) <= limit - size else {
            abort()
            throw ImageError(.invalidArgument, "blob larger than the limit of \(limit) bytes")
        }
        var offset = 0
        while offset < bytes.count {
            let n = Syscall.retrying { Glibc.write(fd, base + offset, bytes.count - offset) }
            if n < 0 {
                let error = ImageError(.io, "blob ingest: write \(temporaryPath): \(BlobStore.text(errno))")
                abort()
                throw error
            }
            offset += n
        }
        hasher.update(bytes)
        size += Int64(bytes.count)
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws(ImageError) {
        let failure: ImageError? = bytes.withUnsafeBytes { buffer in
            do throws(ImageError) {
                try write(buffer)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Verifies the size and digest against what the caller expected (when given), makes the
    /// bytes durable and moves them to `blobs/sha256/<hex>`. A blob already present is kept (same
    /// digest, same bytes) and the partial file removed. Any failure removes the partial file.
    @discardableResult
    public func commit(expected: Digest?, expectedSize: Int64?) throws(ImageError) -> Digest {
        guard !isFinished else { throw ImageError(.invalidState, "blob writer already finished") }
        let actual = hasher.finalize()
        if let expectedSize, expectedSize != size {
            abort()
            throw ImageError(.invalidArgument, "blob size mismatch: expected \(expectedSize) bytes, got \(size)")
        }
        if let expected, expected != actual {
            abort()
            throw ImageError(.invalidArgument, "blob digest mismatch: expected \(expected), got \(actual)")
        }
        let destination = store.path(of: actual)
        if store.contains(actual) {
            abort()
            return actual
        }
        guard fchmod(fd, 0o644) == 0 else { throw failAndAbort("chmod") }
        guard Syscall.retrying({ fsync(fd) }) == 0 else { throw failAndAbort("fsync") }
        close(fd)
        fd = -1
        guard rename(temporaryPath, destination) == 0 else { throw failAndAbort("rename") }
        isFinished = true
        BlobStore.syncDirectory(store.blobsDirectory)
        return actual
    }

    /// Discards what was written: closes and removes the partial file. Safe to call twice.
    public func abort() {
        guard !isFinished else { return }
        isFinished = true
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(temporaryPath)
    }

    private func failAndAbort(_ operation: String) -> ImageError {
        let error = ImageError(.io, "blob ingest: \(operation) \(temporaryPath): \(BlobStore.text(errno))")
        abort()
        return error
    }

    /// 32 random hex digits: partial files of concurrent writers never share a name.
    private static func randomName() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            let word = generator.next()
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Hex.lowercase(bytes) + ".partial"
    }
}

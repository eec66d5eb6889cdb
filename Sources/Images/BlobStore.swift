import Glibc
import Platform

/// Content-addressed blobs under `<root>/blobs/sha256/<hex>`, written through `<root>/blobs/ingest/`.
///
/// Every path is built from a validated `Digest` (`sha256:` and 64 lowercase hex digits), never
/// from a caller's string, so no input can name a file outside `blobs/sha256/`. A blob reaches its
/// final name only by an atomic rename after its bytes were hashed, checked against the expected
/// digest and size, and fsynced (see `BlobWriter`). Directories are 0700, partial files 0600 and
/// committed blobs 0644.
public struct BlobStore: Sendable {
    /// Skiff's storage root: the directory that holds `blobs/`.
    public let root: String

    /// The limit a writer gets when the caller names none: 64 GiB.
    public static let defaultLimit: Int64 = 64 << 30

    /// Nothing is touched on disk until the first write.
    public init(root: String) {
        self.root = root
    }

    /// `<root>/blobs/sha256`
    public var blobsDirectory: String { root + "/blobs/sha256" }
    /// `<root>/blobs/ingest`: partial writes, named at random.
    public var ingestDirectory: String { root + "/blobs/ingest" }

    /// `<root>/blobs/sha256/<hex>`. Only a parsed `Digest` gets here, so `hex` is 64 hex digits.
    public func path(of digest: Digest) -> String {
        blobsDirectory + "/" + digest.encoded
    }

    // MARK: Reading

    /// Whether the blob is present (a regular file under its digest).
    public func contains(_ digest: Digest) -> Bool {
        var info = stat()
        return lstat(path(of: digest), &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// The blob's size in bytes.
    public func size(of digest: Digest) throws(ImageError) -> Int64 {
        var info = stat()
        guard lstat(path(of: digest), &info) == 0 else {
            throw BlobStore.failure(errno, "stat", digest)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ImageError(.corrupt, "blob \(digest) is not a regular file")
        }
        return Int64(info.st_size)
    }

    /// A read-only, close-on-exec descriptor for the blob; the caller closes it.
    public func open(_ digest: Digest) throws(ImageError) -> Int32 {
        let fd = BlobStore.openRetrying(path(of: digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw BlobStore.failure(errno, "open", digest) }
        return fd
    }

    /// The whole blob, for small JSON blobs (manifests, configs: callers pass 4 MiB). A blob larger
    /// than `limit` is refused without being read; the bytes read are hashed again, so a blob that
    /// changed on disk is reported as corrupt rather than returned.
    public func read(_ digest: Digest, limit: Int) throws(ImageError) -> [UInt8] {
        let fd = try open(digest)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BlobStore.failure(errno, "stat", digest) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ImageError(.corrupt, "blob \(digest) is not a regular file")
        }
        guard Int64(info.st_size) <= Int64(limit) else {
            throw ImageError(.invalidArgument, "blob \(digest) is \(info.st_size) bytes, larger than the limit of \(limit) bytes")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in Syscall.retrying { Glibc.read(fd, raw.baseAddress, raw.count) } }
            if n < 0 {
                throw BlobStore.failure(errno, "read", digest)
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            guard bytes.count <= limit else {
                throw ImageError(.invalidArgument, "blob \(digest) is larger than the limit of \(limit) bytes")
            }
        }
        let actual = Digest.sha256(of: bytes)
        guard actual == digest else {
            throw ImageError(.corrupt, "blob \(digest) is corrupt: its content hashes to \(actual)")
        }
        return bytes
    }

    /// Every blob present, sorted. Names that are not a digest's hex are ignored.
    public func list() -> [Digest] {
        var digests: [Digest] = []
        for name in FileSystem.directoryEntries(blobsDirectory) ?? [] {
            if let digest = try? Digest(parsing: "sha256:" + name) { digests.append(digest) }
        }
        return digests.sorted()
    }

    // MARK: Removing

    /// Removes the blob; `.notFound` when it is absent.
    public func delete(_ digest: Digest) throws(ImageError) {
        guard unlink(path(of: digest)) == 0 else { throw BlobStore.failure(errno, "delete", digest) }
        BlobStore.syncDirectory(blobsDirectory)
    }

    /// Removes partial files in `ingest/` last modified more than `seconds` before `now` (a crash
    /// leaves them; a live writer touches its file with every write). Returns how many it removed.
    /// `now` is injectable for tests; by default the current time.
    @discardableResult
    public func removeStaleIngest(olderThan seconds: Int64, now: Int64? = nil) -> Int {
        let now = now ?? Int64(time(nil))
        var removed = 0
        for name in FileSystem.directoryEntries(ingestDirectory) ?? [] {
            let path = ingestDirectory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if Int64(info.st_mtim.tv_sec) < now - seconds, unlink(path) == 0 {
                removed += 1
            }
        }
        return removed
    }

    // MARK: Helpers shared with BlobWriter

    /// Creates `blobs/sha256` and `blobs/ingest` (0700) when they are missing.
    func prepareDirectories() throws(ImageError) {
        do {
            try FileSystem.makeDirectories(blobsDirectory, mode: 0o700)
            try FileSystem.makeDirectories(ingestDirectory, mode: 0o700)
        } catch {
            throw ImageError(.io, "blob store \(root): \(error)")
        }
    }

    static func openRetrying(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        Syscall.retrying { Glibc.open(path, flags, mode) }
    }

    /// fsync of a directory, so that a rename or unlink in it survives a power cut. Best effort:
    /// the caller's operation has already happened.
    @discardableResult
    static func syncDirectory(_ path: String) -> Bool {
        let fd = openRetrying(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func failure(_ code: Int32, _ operation: String, _ digest: Digest) -> ImageError {
        code == ENOENT
            ? ImageError(.notFound, "blob \(digest) not found")
            : ImageError(.io, "blob \(digest): \(operation): \(text(code))")
    }
}

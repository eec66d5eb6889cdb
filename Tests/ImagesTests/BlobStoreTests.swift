import Glibc
import Platform
import Store
import Testing
@testable import Images

/// A temp dir per test holding the store's root; removed when the scratch goes away.
final class BlobScratch {
    let base = makeTemporaryDirectory("skiff-blob-test")
    var root: String { base + "/root" }
    lazy var store = BlobStore(root: root)

    deinit { FileSystem.removeTree(base) }

    var ingestNames: [String] { FileSystem.directoryEntries(store.ingestDirectory) ?? [] }
    var blobNames: [String] { FileSystem.directoryEntries(store.blobsDirectory) ?? [] }

    func mode(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    func inode(_ digest: Digest) -> ino_t? {
        var info = stat()
        return lstat(store.path(of: digest), &info) == 0 ? info.st_ino : nil
    }
}

/// Deterministic pseudo-random bytes (xorshift), so chunk boundaries fall everywhere.
func blobBytes(_ count: Int, seed: UInt64 = 0x9e3779b97f4a7c15) -> [UInt8] {
    var state = seed
    var out: [UInt8] = []
    out.reserveCapacity(count)
    for _ in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out.append(UInt8(truncatingIfNeeded: state))
    }
    return out
}

/// Expects `body` to throw a ImageError with exactly this code and message.
func expectStoreError(_ code: ImageError.Code, _ message: String, _ body: () throws -> Void,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(message)", sourceLocation: sourceLocation)
    } catch {
        let storeError = error as? ImageError
        #expect(storeError?.code == code, sourceLocation: sourceLocation)
        #expect(storeError?.message == message, sourceLocation: sourceLocation)
    }
}

/// Runs each body on its own pthread and joins them all.
func runOnThreads(_ bodies: [@Sendable () -> Void]) {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    var threads: [pthread_t] = []
    for body in bodies {
        let argument = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, argument)
        precondition(created == 0, "pthread_create failed")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// Results written by one thread each and read after the join (which orders the accesses).
final class ThreadResults: @unchecked Sendable {
    var digests: [Digest?]
    var errors: [String?]
    init(_ count: Int) {
        digests = Array(repeating: nil, count: count)
        errors = Array(repeating: nil, count: count)
    }
}

/// A pthread barrier on the heap, shared by the threads of one test.
final class Barrier: @unchecked Sendable {
    private let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    init(_ count: UInt32) { pthread_barrier_init(barrier, nil, count) }
    deinit {
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }
    func wait() { pthread_barrier_wait(barrier) }
}

struct BlobStoreTests {
    static let payload = blobBytes(200_003)

    @Test(arguments: [1, 7, 63, 64, 65, 1000, 4096, 65536, 200_003, 1 << 20])
    func ingestInChunks(chunk: Int) throws {
        let scratch = BlobScratch()
        let bytes = BlobStoreTests.payload
        let expected = Digest.sha256(of: bytes)
        let writer = try scratch.store.writer()
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            try bytes[offset..<end].withUnsafeBytes { try writer.write($0) }
            offset = end
        }
        #expect(writer.size == Int64(bytes.count))
        let digest = try writer.commit(expected: expected, expectedSize: Int64(bytes.count))
        #expect(digest == expected)
        #expect(scratch.store.contains(digest))
        #expect(try scratch.store.size(of: digest) == Int64(bytes.count))
        #expect(try scratch.store.read(digest, limit: 1 << 20) == bytes)
        #expect(scratch.store.list() == [digest])
        #expect(scratch.blobNames == [digest.encoded])
        #expect(scratch.ingestNames == [])
        #expect(scratch.mode(scratch.store.path(of: digest)) == 0o644)
        #expect(scratch.mode(scratch.store.blobsDirectory) == 0o700)
        #expect(scratch.mode(scratch.store.ingestDirectory) == 0o700)
    }

    @Test func emptyBlobAndUnverifiedCommit() throws {
        let scratch = BlobScratch()
        let writer = try scratch.store.writer()
        let digest = try writer.commit(expected: nil, expectedSize: nil)
        #expect(digest.description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(try scratch.store.size(of: digest) == 0)
        #expect(try scratch.store.read(digest, limit: 0) == [])
    }

    struct MismatchCase: Sendable, CustomStringConvertible {
        let name: String
        let expected: String?
        let expectedSize: Int64?
        let message: String
        var description: String { name }
    }

    static let helloDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    static let otherDigest = "sha256:" + String(repeating: "ab", count: 32)

    @Test(arguments: [
        MismatchCase(name: "digest", expected: otherDigest, expectedSize: 5,
                     message: "blob digest mismatch: expected \(otherDigest), got \(helloDigest)"),
        MismatchCase(name: "digest, size unchecked", expected: otherDigest, expectedSize: nil,
                     message: "blob digest mismatch: expected \(otherDigest), got \(helloDigest)"),
        MismatchCase(name: "size too small", expected: helloDigest, expectedSize: 4,
                     message: "blob size mismatch: expected 4 bytes, got 5"),
        MismatchCase(name: "size too large", expected: nil, expectedSize: 6,
                     message: "blob size mismatch: expected 6 bytes, got 5"),
    ])
    func mismatchLeavesNothing(_ test: MismatchCase) throws {
        let scratch = BlobScratch()
        let writer = try scratch.store.writer()
        try writer.write(Array("hello".utf8))
        #expect(scratch.ingestNames.count == 1)
        let expected = try test.expected.map { try Digest(parsing: $0) }
        expectStoreError(.invalidArgument, test.message) {
            try writer.commit(expected: expected, expectedSize: test.expectedSize)
        }
        #expect(scratch.ingestNames == [])
        #expect(scratch.blobNames == [])
        #expect(scratch.store.list() == [])
        expectStoreError(.invalidState, "blob writer already finished") {
            try writer.commit(expected: nil, expectedSize: nil)
        }
    }

    @Test func limitExceeded() throws {
        let scratch = BlobScratch()
        let atLimit = try scratch.store.writer(limit: 10)
        try atLimit.write(blobBytes(4))
        try atLimit.write(blobBytes(6, seed: 7))
        try atLimit.commit(expected: nil, expectedSize: 10)

        let writer = try scratch.store.writer(limit: 10)
        try writer.write(blobBytes(6))
        expectStoreError(.invalidArgument, "blob larger than the limit of 10 bytes") {
            try writer.write(blobBytes(5))
        }
        #expect(scratch.ingestNames == [])
        expectStoreError(.invalidState, "blob writer already finished") { try writer.write(blobBytes(1)) }
        #expect(scratch.store.list().count == 1)

        // ingest() of a whole buffer checks it against the expected digest too.
        expectStoreError(.invalidArgument, "blob digest mismatch: expected \(BlobStoreTests.otherDigest), got \(BlobStoreTests.helloDigest)") {
            try scratch.store.ingest(Array("hello".utf8), expected: Digest(parsing: BlobStoreTests.otherDigest))
        }
        #expect(scratch.ingestNames == [])
    }

    @Test func existingBlobIsKept() throws {
        let scratch = BlobScratch()
        let bytes = Array("{\"schemaVersion\":2}".utf8)
        let digest = try scratch.store.ingest(bytes)
        let inode = scratch.inode(digest)
        #expect(inode != nil)

        let writer = try scratch.store.writer()
        try writer.write(bytes)
        #expect(try writer.commit(expected: digest, expectedSize: Int64(bytes.count)) == digest)
        #expect(scratch.inode(digest) == inode)
        #expect(scratch.ingestNames == [])
        #expect(scratch.store.list() == [digest])
        #expect(try scratch.store.read(digest, limit: 4 << 20) == bytes)
    }

    @Test func concurrentWritersOfTheSameBlob() throws {
        let scratch = BlobScratch()
        let store = scratch.store
        for round in 0..<20 {
            let bytes = blobBytes(100_000 + round, seed: UInt64(round + 1))
            let expected = Digest.sha256(of: bytes)
            let results = ThreadResults(2)
            let barrier = Barrier(2)
            let body: @Sendable (Int) -> Void = { index in
                do {
                    let writer = try store.writer()
                    var offset = 0
                    while offset < bytes.count {
                        let end = min(offset + 4093, bytes.count)
                        try writer.write(Array(bytes[offset..<end]))
                        offset = end
                    }
                    barrier.wait()  // both have written everything before either commits
                    results.digests[index] = try writer.commit(expected: expected, expectedSize: Int64(bytes.count))
                } catch {
                    barrier.wait()
                    results.errors[index] = "\(error)"
                }
            }
            runOnThreads([{ body(0) }, { body(1) }])
            #expect(results.errors == [nil, nil])
            #expect(results.digests == [expected, expected])
            #expect(try store.read(expected, limit: 1 << 20) == bytes)
        }
        #expect(scratch.blobNames.count == 20)
        #expect(scratch.ingestNames == [])
    }

    @Test func abortAndDeinitRemoveThePartialFile() throws {
        let scratch = BlobScratch()
        let writer = try scratch.store.writer()
        try writer.write(blobBytes(1000))
        #expect(scratch.mode(writer.temporaryPath) == 0o600)
        #expect(scratch.ingestNames.count == 1)
        writer.abort()
        writer.abort()
        #expect(scratch.ingestNames == [])
        expectStoreError(.invalidState, "blob writer already finished") {
            try writer.commit(expected: nil, expectedSize: nil)
        }

        var path = ""
        do {
            let dropped = try scratch.store.writer()
            try dropped.write(blobBytes(1000))
            path = dropped.temporaryPath
            withExtendedLifetime(dropped) { #expect(scratch.mode(path) != nil) }
        }
        #expect(!path.isEmpty)
        #expect(scratch.mode(path) == nil)
        #expect(scratch.ingestNames == [])
        #expect(scratch.blobNames == [])
    }

    @Test func staleIngestIsRemovedAndLiveWritersKept() throws {
        let scratch = BlobScratch()
        let live = try scratch.store.writer()
        try live.write(Array("live".utf8))
        // A partial file from a crash two hours ago.
        let stale = scratch.store.ingestDirectory + "/0123456789abcdef0123456789abcdef.partial"
        try FileSystem.writeAtomically(stale, blobBytes(10))
        var times = [timespec(tv_sec: time(nil) - 7200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7200, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, stale, &times, 0) == 0)
        // Not a regular file: left alone.
        mkdir(scratch.store.ingestDirectory + "/subdir", 0o700)

        #expect(scratch.store.removeStaleIngest(olderThan: 3600) == 1)
        #expect(scratch.mode(stale) == nil)
        #expect(scratch.mode(live.temporaryPath) != nil)
        #expect(try live.commit(expected: nil, expectedSize: 4) == Digest.sha256(of: Array("live".utf8)))

        // With the clock moved forward, the remaining (non-regular) entry is still kept.
        #expect(scratch.store.removeStaleIngest(olderThan: 0, now: Int64(time(nil)) + 10) == 0)
        #expect(scratch.ingestNames == ["subdir"])
        // A store that never wrote anything has no ingest directory: nothing to do.
        #expect(BlobStore(root: scratch.base + "/nothing").removeStaleIngest(olderThan: 0) == 0)
    }

    @Test func readLimitAndCorruption() throws {
        let scratch = BlobScratch()
        let bytes = blobBytes(100)
        let digest = try scratch.store.ingest(bytes)
        expectStoreError(.invalidArgument, "blob \(digest) is 100 bytes, larger than the limit of 99 bytes") {
            _ = try scratch.store.read(digest, limit: 99)
        }
        #expect(try scratch.store.read(digest, limit: 100) == bytes)

        let fd = try scratch.store.open(digest)
        var buffer = [UInt8](repeating: 0, count: 200)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        #expect(n == 100)
        #expect(Glibc.write(fd, "x", 1) == -1)  // read-only
        close(fd)

        // Bytes changed on disk behind the store's back are not returned.
        chmod(scratch.store.path(of: digest), 0o600)
        try FileSystem.writeAtomically(scratch.store.path(of: digest), blobBytes(100, seed: 3))
        let actual = Digest.sha256(of: blobBytes(100, seed: 3))
        expectStoreError(.corrupt, "blob \(digest) is corrupt: its content hashes to \(actual)") {
            _ = try scratch.store.read(digest, limit: 4 << 20)
        }
    }

    @Test func missingBlobsAndDelete() throws {
        let scratch = BlobScratch()
        let digest = try Digest(parsing: BlobStoreTests.otherDigest)
        #expect(!scratch.store.contains(digest))
        let message = "blob \(digest) not found"
        expectStoreError(.notFound, message) { _ = try scratch.store.size(of: digest) }
        expectStoreError(.notFound, message) { _ = try scratch.store.open(digest) }
        expectStoreError(.notFound, message) { _ = try scratch.store.read(digest, limit: 10) }
        expectStoreError(.notFound, message) { try scratch.store.delete(digest) }
        #expect(scratch.store.list() == [])

        let a = try scratch.store.ingest(Array("a".utf8))
        let b = try scratch.store.ingest(Array("b".utf8))
        // Stray names in blobs/sha256 are not blobs.
        try FileSystem.writeAtomically(scratch.store.blobsDirectory + "/not-a-digest", [])
        #expect(scratch.store.list() == [a, b].sorted())
        try scratch.store.delete(a)
        #expect(!scratch.store.contains(a))
        #expect(scratch.store.list() == [b])
    }

    /// Paths come only from a parsed Digest: a hostile string is refused by the parser, before the
    /// store exists on disk, so nothing is created, read or removed anywhere.
    @Test(arguments: [
        "sha256:../../x",
        "sha256:../../../../etc/passwd",
        "sha256:/etc/passwd",
        "sha256:" + String(repeating: "a", count: 62) + "/.",
        "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "a", count: 63),
        "sha256:" + String(repeating: "a", count: 65),
        "sha256:" + String(repeating: "a", count: 63) + "\0",
        "sha256:",
        "../sha256:" + String(repeating: "a", count: 64),
        "sha512:" + String(repeating: "a", count: 128),
        String(repeating: "a", count: 64),
    ])
    func hostileDigestNeverReachesTheFileSystem(_ text: String) throws {
        let scratch = BlobScratch()
        let sentinel = scratch.base + "/x"
        try FileSystem.writeAtomically(sentinel, Array("keep".utf8))
        let store = BlobStore(root: scratch.base + "/a/b")  // "../../x" from blobs/sha256 would be base/a/x
        let attempts: [(String, (BlobStore, Digest) throws -> Void)] = [
            ("delete", { try $0.delete($1) }),
            ("read", { _ = try $0.read($1, limit: 10) }),
            ("open", { close(try $0.open($1)) }),
            ("size", { _ = try $0.size(of: $1) }),
            ("contains", { _ = $0.contains($1) }),
            ("ingest", { try $0.ingest([1, 2, 3], expected: $1) }),
        ]
        for (name, attempt) in attempts {
            do {
                try attempt(store, try Digest(parsing: text))
                Issue.record("\(name) accepted \(text.debugDescription)")
            } catch {
                #expect((error as? ImageError)?.code == .invalidArgument, "\(name)")
                #expect((error as? ImageError)?.message.contains("digest") == true, "\(name)")
            }
        }
        #expect(FileSystem.directoryEntries(scratch.base)?.sorted() == ["x"])  // store root never created
        #expect(try FileSystem.readFile(sentinel) == Array("keep".utf8))
    }
}

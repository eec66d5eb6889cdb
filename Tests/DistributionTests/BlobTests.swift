import Glibc
import Images
import Store
import Testing
@testable import Distribution

/// Deterministic pseudo-random bytes (xorshift).
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

struct BlobTests {
    static let blob = blobBytes(300_001)
    static let digest = Digest.sha256(of: blob)

    @Test func blobStreamsAndVerifies() throws {
        let server = TestServer { _ in .http(200, [("Content-Type", "application/octet-stream")], body: BlobTests.blob) }
        defer { server.stop() }
        let client = plainClient(server)
        let reader = try client.openBlob(BlobTests.digest, expectedSize: Int64(BlobTests.blob.count))
        #expect(reader.contentLength == Int64(BlobTests.blob.count))
        #expect(try readAll(reader) == BlobTests.blob)
        #expect(reader.failure == nil)
        // Read to the end: the connection serves the next request.
        #expect(try client.blobExists(BlobTests.digest))
        #expect(server.acceptedConnections == 1)
        #expect(server.requests.map(\.target) == ["/v2/library/alpine/blobs/\(BlobTests.digest)"] * 2)
    }

    @Test func blobWithTheWrongContentIsCorrupt() throws {
        var copy = BlobTests.blob
        copy[1234] ^= 1
        let altered = copy
        let server = TestServer { _ in .http(200, body: altered) }
        defer { server.stop() }
        let reader = try plainClient(server).openBlob(BlobTests.digest, expectedSize: Int64(altered.count))
        let error = drain(reader)
        #expect(error?.code == .corrupt)
        #expect(error?.message == "blob \(BlobTests.digest) from \(server.authority): content has digest \(Digest.sha256(of: altered))")
        #expect(reader.failure?.code == .digestMismatch)
        // Failed once, failed for good.
        #expect(drain(reader)?.code == .corrupt)
    }

    @Test func shortBlobIsCorrupt() throws {
        let short = Array(BlobTests.blob.prefix(1000))
        let server = TestServer { _ in .http(200, body: short) }
        defer { server.stop() }
        let reader = try plainClient(server).openBlob(BlobTests.digest, expectedSize: Int64(BlobTests.blob.count))
        let error = drain(reader)
        #expect(error?.code == .corrupt)
        #expect(error?.message == "blob \(BlobTests.digest) from \(server.authority): 1000 bytes instead of the expected 300001")
        #expect(reader.failure?.code == .digestMismatch)
    }

    @Test func longBlobIsCorruptAfterOneByteMore() throws {
        let long = BlobTests.blob + blobBytes(100_000, seed: 7)
        let server = TestServer { _ in .http(200, body: long) }
        defer { server.stop() }
        let reader = try plainClient(server).openBlob(BlobTests.digest, expectedSize: Int64(BlobTests.blob.count))
        let error = drain(reader)
        #expect(error?.code == .corrupt)
        #expect(error?.message == "blob \(BlobTests.digest) from \(server.authority): longer than the expected 300001 bytes")
        #expect(reader.bytesRead == Int64(BlobTests.blob.count) + 1)
        #expect(reader.failure?.code == .digestMismatch)
    }

    @Test func missingBlobIsNotFound() {
        let server = TestServer { _ in .registryError(404, code: "BLOB_UNKNOWN", message: "blob unknown to registry") }
        defer { server.stop() }
        let error = expectRegistryError(.notFound) { _ = try plainClient(server).openBlob(BlobTests.digest, expectedSize: nil) }
        #expect(error?.message == "blob unknown: blob unknown to registry")
        #expect(error?.registryCode == "BLOB_UNKNOWN")
    }

    @Test func redirectToAnotherHostDropsAuthorization() throws {
        let storage = TestServer { request in
            request.path == "/storage/blob" ? .http(200, body: BlobTests.blob) : .http(404)
        }
        defer { storage.stop() }
        let storagePort = storage.port
        let registry = TestServer { request in
            if request.path == "/token" { return .http(200, body: Array(#"{"token":"t0k"}"#.utf8)) }
            guard request.headers["authorization"] == "Bearer t0k" else {
                return .http(401, [("WWW-Authenticate", #"Bearer realm="http://127.0.0.1:\#(request.headers["host"]!.split(separator: ":")[1])/token",service="reg""#)])
            }
            return .http(307, [("Location", "http://localhost:\(storagePort)/storage/blob?sig=a%2Fb&expires=1")])
        }
        defer { registry.stop() }
        let client = plainClient(registry, credentials: Credentials(username: "u", password: "p"))
        let reader = try client.openBlob(BlobTests.digest, expectedSize: Int64(BlobTests.blob.count))
        #expect(try readAll(reader) == BlobTests.blob)
        let blobRequest = try #require(storage.requests.first)
        #expect(blobRequest.target == "/storage/blob?sig=a%2Fb&expires=1")
        #expect(blobRequest.headers["authorization"] == nil)
        #expect(blobRequest.headers["host"] == "localhost:\(storagePort)")
        #expect(registry.requests.last?.headers["authorization"] == "Bearer t0k")
    }

    @Test func relativeRedirectStaysOnTheRegistry() throws {
        let server = TestServer { request in
            request.path.hasPrefix("/v2/") ? .http(302, [("Location", "/data/blob")]) : .http(200, body: BlobTests.blob)
        }
        defer { server.stop() }
        let reader = try plainClient(server).openBlob(BlobTests.digest, expectedSize: nil)
        #expect(try readAll(reader) == BlobTests.blob)
        #expect(server.requests.map(\.target) == ["/v2/library/alpine/blobs/\(BlobTests.digest)", "/data/blob"])
    }

    @Test func blobExistsAnswers() throws {
        let present = BlobTests.digest
        let server = TestServer { request in
            request.path.hasSuffix(present.description) ? .http(200, [("Content-Length", "300001")], length: false) : .http(404)
        }
        defer { server.stop() }
        let client = plainClient(server)
        #expect(try client.blobExists(present))
        #expect(try !client.blobExists(manifestDigest))
        #expect(server.requests.map(\.method) == ["HEAD", "HEAD"])
        #expect(server.acceptedConnections == 1)
    }

    @Test func mountBlob() throws {
        let server = TestServer { request in
            if request.method == "DELETE" { return .http(204) }
            return request.queryValues("from") == ["library/base"]
                ? .http(201, [("Location", "/v2/library/alpine/blobs/\(BlobTests.digest)")])
                : .http(202, [("Location", "/v2/library/alpine/blobs/uploads/abc?_state=s")])
        }
        defer { server.stop() }
        let client = plainClient(server)
        #expect(try client.mountBlob(BlobTests.digest, from: "library/base"))
        #expect(try !client.mountBlob(BlobTests.digest, from: "library/other"))
        let requests = server.requests
        #expect(requests.map(\.method) == ["POST", "POST", "DELETE"])
        #expect(requests[0].path == "/v2/library/alpine/blobs/uploads/")
        #expect(requests[0].queryValues("mount") == [BlobTests.digest.description])
        #expect(requests[0].queryValues("from") == ["library/base"])
        #expect(requests[2].target == "/v2/library/alpine/blobs/uploads/abc?_state=s")
    }

    @Test func uploadPostsThenPutsTheExactBody() throws {
        let server = TestServer { request in
            switch request.method {
            case "POST": return .http(202, [("Location", "/v2/library/alpine/blobs/uploads/u-1?_state=xyz"), ("Range", "0-0")])
            case "PUT": return .http(201, [("Docker-Content-Digest", BlobTests.digest.description)])
            default: return .http(405)
            }
        }
        defer { server.stop() }
        let client = plainClient(server)
        var offset = 0
        var reported: [Int64] = []
        try client.uploadBlob(BlobTests.digest, size: Int64(BlobTests.blob.count), read: { buffer in
            let n = min(buffer.count, BlobTests.blob.count - offset, 10_000)
            BlobTests.blob[offset..<(offset + n)].withUnsafeBytes { buffer.copyMemory(from: $0) }
            offset += n
            return n
        }, progress: { reported.append($0) })
        let requests = server.requests
        #expect(requests.map(\.method) == ["POST", "PUT"])
        #expect(requests[0].target == "/v2/library/alpine/blobs/uploads/")
        #expect(requests[0].headers["content-length"] == "0")
        #expect(requests[1].path == "/v2/library/alpine/blobs/uploads/u-1")
        #expect(requests[1].queryValues("_state") == ["xyz"])
        #expect(requests[1].queryValues("digest") == [BlobTests.digest.description])
        #expect(requests[1].headers["content-length"] == "300001")
        #expect(requests[1].headers["content-type"] == "application/octet-stream")
        #expect(requests[1].body == BlobTests.blob)
        #expect(reported.last == Int64(BlobTests.blob.count))
        #expect(reported == reported.sorted())
    }

    @Test func uploadSourceShorterThanItsSizeFails() {
        let server = TestServer { request in
            request.method == "POST" ? .http(202, [("Location", "http://\(request.headers["host"]!)/upload/1")]) : .http(201)
        }
        defer { server.stop() }
        var given = false
        let error = expectRegistryError(.invalidArgument) {
            try plainClient(server).uploadBlob(BlobTests.digest, size: 100, read: { buffer in
                if given { return 0 }
                given = true
                buffer.initializeMemory(as: UInt8.self, repeating: 1)
                return 40
            }, progress: nil)
        }
        #expect(error?.message.includes("the upload source ended after 40 of the 100 bytes announced") == true)
    }

    @Test func uploadSourceErrorComesOutAsItIs() {
        struct SourceBroke: Error, Equatable {}
        let server = TestServer { request in
            request.method == "POST" ? .http(202, [("Location", "/upload/1")]) : .hang
        }
        defer { server.stop() }
        #expect(throws: SourceBroke()) {
            try plainClient(server).uploadBlob(BlobTests.digest, size: 100, read: { _ in throw SourceBroke() },
                                               progress: nil)
        }
    }
}

extension Array {
    static func * (array: Array, count: Int) -> Array { (0..<count).flatMap { _ in array } }
}

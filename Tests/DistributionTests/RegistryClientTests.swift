import Glibc
import Images
import Platform
import Store
import Testing
@testable import Distribution

let manifestBytes = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#.utf8)
let manifestDigest = Digest.sha256(of: manifestBytes)
let repository = "library/alpine"

/// A client that talks plain HTTP to a test server (no TLS probe first).
func plainClient(_ server: TestServer, credentials: Credentials? = nil, timeout: Int = 5) -> RegistryClient {
    let client = RegistryClient(host: server.authority, repository: repository, credentials: credentials,
                                insecure: true, timeoutSeconds: timeout)
    client.scheme = "http"
    return client
}

func chunked(_ pieces: [String], trailer: String = "") -> [UInt8] {
    var out = ""
    for piece in pieces { out += String(piece.utf8.count, radix: 16) + ";ext=1\r\n" + piece + "\r\n" }
    return Array((out + "0\r\n" + trailer + "\r\n").utf8)
}

struct ManifestTests {
    @Test func getManifestSendsAcceptAndChecksDigest() throws {
        let server = TestServer { _ in
            .http(200, [("Content-Type", MediaType.ociManifest + "; charset=utf-8"),
                        ("Docker-Content-Digest", manifestDigest.description)], body: manifestBytes)
        }
        defer { server.stop() }
        let client = plainClient(server)
        let result = try client.getManifest("latest", accept: [MediaType.ociManifest, MediaType.dockerManifest])
        #expect(result.bytes == manifestBytes)
        #expect(result.mediaType == MediaType.ociManifest)
        #expect(result.digest == manifestDigest)
        let request = try #require(server.requests.first)
        #expect(request.method == "GET")
        #expect(request.target == "/v2/library/alpine/manifests/latest")
        #expect(request.headers["accept"] == MediaType.ociManifest + ", " + MediaType.dockerManifest)
        #expect(request.headers["host"] == server.authority)
        #expect(request.headers["user-agent"] == "skiff/0.1.0")
        #expect(request.headers["authorization"] == nil)
    }

    @Test func getManifestByDigestVerifiesTheBody() throws {
        let server = TestServer { _ in .http(200, [("Content-Type", MediaType.ociManifest)], body: manifestBytes) }
        defer { server.stop() }
        let client = plainClient(server)
        let result = try client.getManifest(manifestDigest.description, accept: [MediaType.ociManifest])
        #expect(result.digest == manifestDigest)
        #expect(server.requests.first?.target == "/v2/library/alpine/manifests/\(manifestDigest)")

        let other = Digest.sha256(of: Array("something else".utf8))
        let error = expectRegistryError(.digestMismatch) {
            _ = try client.getManifest(other.description, accept: [MediaType.ociManifest])
        }
        #expect(error?.message == "manifest \(other) from \(server.authority)/library/alpine: content has digest \(manifestDigest)")
    }

    @Test func dockerContentDigestMustAgree() {
        let wrong = Digest.sha256(of: Array("wrong".utf8))
        let server = TestServer { _ in
            .http(200, [("Content-Type", MediaType.ociManifest), ("Docker-Content-Digest", wrong.description)], body: manifestBytes)
        }
        defer { server.stop() }
        let error = expectRegistryError(.digestMismatch) {
            _ = try plainClient(server).getManifest("latest", accept: [MediaType.ociManifest])
        }
        #expect(error?.message.includes("Docker-Content-Digest \(wrong) does not match the content's digest \(manifestDigest)") == true)
    }

    @Test func unsupportedDigestReferenceIsRefusedBeforeAsking() {
        let server = TestServer { _ in .http(200, body: manifestBytes) }
        defer { server.stop() }
        expectRegistryError(.invalidArgument) {
            _ = try plainClient(server).getManifest("sha512:" + String(repeating: "a", count: 128), accept: [])
        }
        #expect(server.requests.isEmpty)
    }

    @Test func bodyOverTheLimitIsTooLarge() {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 5000)
        let server = TestServer { request in
            request.path.hasSuffix("/chunked") ? .http(200, [("Transfer-Encoding", "chunked")],
                                                        body: chunked(Array(repeating: String(repeating: "y", count: 1000), count: 5)))
                                               : .http(200, body: big)
        }
        defer { server.stop() }
        let client = plainClient(server)
        let announced = expectRegistryError(.tooLarge) { _ = try client.getManifest("latest", accept: [], limit: 4096) }
        #expect(announced?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "response of 5000 bytes is larger than the limit of 4096 bytes")
        let streamed = expectRegistryError(.tooLarge) { _ = try client.getManifest("chunked", accept: [], limit: 4096) }
        #expect(streamed?.message.includes("response larger than the limit of 4096 bytes") == true)
    }

    @Test func chunkedBodyIsReassembledAndTheConnectionReused() throws {
        let text = String(decoding: manifestBytes, as: UTF8.self)
        let pieces = [String(text.prefix(10)), String(text.dropFirst(10).prefix(1)), String(text.dropFirst(11))]
        let server = TestServer { _ in
            .http(200, [("Content-Type", MediaType.ociManifest), ("Transfer-Encoding", "chunked")],
                  body: chunked(pieces, trailer: "X-Trailer: done\r\n"))
        }
        defer { server.stop() }
        let client = plainClient(server)
        let first = try client.getManifest("latest", accept: [])
        let second = try client.getManifest(manifestDigest.description, accept: [])
        #expect(first.bytes == manifestBytes)
        #expect(second.digest == manifestDigest)
        #expect(server.acceptedConnections == 1)
    }

    @Test func keepAliveReusesOneConnection() throws {
        let server = TestServer { _ in .http(200, [("Content-Type", MediaType.ociManifest)], body: manifestBytes) }
        defer { server.stop() }
        let client = plainClient(server)
        _ = try client.getManifest("latest", accept: [])
        _ = try client.getManifest("v1", accept: [])
        #expect(server.requests.map(\.connection) == [0, 0])
        #expect(server.acceptedConnections == 1)
    }

    @Test func aConnectionTheServerClosedIsReplaced() throws {
        // The server closes after each answer without saying so.
        let server = TestServer { _ in .sendAndClose(Reply.response(200, body: manifestBytes)) }
        defer { server.stop() }
        let client = plainClient(server)
        _ = try client.getManifest("latest", accept: [])
        _ = try client.getManifest("latest", accept: [])
        #expect(server.requests.map(\.connection) == [0, 1])
    }

    @Test func aKeptConnectionClosedWithoutAnAnswerIsRetriedOnce() throws {
        // The second request arrives on the kept connection; the server drops it unanswered.
        let server = TestServer { request in
            request.sequence == 1 ? .sendAndClose([]) : .http(200, body: manifestBytes)
        }
        defer { server.stop() }
        let client = plainClient(server)
        _ = try client.getManifest("latest", accept: [])
        #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)
        #expect(server.requests.map(\.connection) == [0, 0, 1])
    }

    @Test func aNewConnectionClosedWithoutAnAnswerIsAnError() {
        let server = TestServer { _ in .sendAndClose([]) }
        defer { server.stop() }
        let error = expectRegistryError(.network) { _ = try plainClient(server).getManifest("latest", accept: []) }
        #expect(error?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "read tcp \(server.authority): connection closed before a response (EOF)")
        #expect(server.requests.count == 1)
    }

    @Test func headersOverTheLimitAreRefused() {
        let padding = String(repeating: "x", count: 1000)
        let headers = (0..<70).map { ("X-Padding-\($0)", padding) }
        let server = TestServer { _ in .http(200, headers, body: manifestBytes) }
        defer { server.stop() }
        let error = expectRegistryError(.protocolError) { _ = try plainClient(server).getManifest("latest", accept: []) }
        #expect(error?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "response headers larger than 64 KiB")
    }

    @Test func registryErrorBodyGivesCodeAndMessage() {
        let server = TestServer { request in
            request.path.hasSuffix("/denied") ? .registryError(403, code: "DENIED", message: "requested access to the resource is denied")
                                              : .registryError(404, code: "MANIFEST_UNKNOWN", message: "manifest unknown")
        }
        defer { server.stop() }
        let client = plainClient(server)
        let missing = expectRegistryError(.notFound) { _ = try client.getManifest("nope", accept: []) }
        #expect(missing?.message == "manifest unknown: manifest unknown")
        #expect(missing?.registryCode == "MANIFEST_UNKNOWN")
        #expect(missing?.httpStatus == 404)
        let denied = expectRegistryError(.denied) { _ = try client.getManifest("denied", accept: []) }
        #expect(denied?.message == "denied: requested access to the resource is denied")
        #expect(denied?.registryCode == "DENIED")
        #expect(denied?.httpStatus == 403)
    }

    @Test func statusWithoutErrorBodyNamesTheRequest() {
        let server = TestServer { _ in .http(502, body: Array("<html>bad gateway</html>".utf8)) }
        defer { server.stop() }
        let error = expectRegistryError(.protocolError) { _ = try plainClient(server).getManifest("latest", accept: []) }
        #expect(error?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": unexpected status 502 Bad Gateway")
        #expect(error?.httpStatus == 502)
        #expect(error?.registryCode == nil)
    }

    @Test func putManifestSendsTypeAndBody() throws {
        let server = TestServer { _ in .http(201, [("Docker-Content-Digest", manifestDigest.description)]) }
        defer { server.stop() }
        let digest = try plainClient(server).putManifest(manifestBytes, mediaType: MediaType.ociManifest, reference: "v1")
        #expect(digest == manifestDigest)
        let request = try #require(server.requests.first)
        #expect(request.method == "PUT")
        #expect(request.target == "/v2/library/alpine/manifests/v1")
        #expect(request.headers["content-type"] == MediaType.ociManifest)
        #expect(request.headers["content-length"] == String(manifestBytes.count))
        #expect(request.body == manifestBytes)
    }
}

struct FailureTests {
    @Test func aRegistryThatNeverAnswersTimesOut() {
        let server = TestServer { _ in .hang }
        defer { server.stop() }
        let client = plainClient(server, timeout: 1)
        let start = monotonicSeconds()
        let error = expectRegistryError(.timeout) { _ = try client.getManifest("latest", accept: []) }
        let elapsed = monotonicSeconds() - start
        #expect(elapsed >= 0.9 && elapsed < 4, "took \(elapsed) s")
        #expect(error?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "read tcp \(server.authority): timed out after 1 s (no data from the registry)")
    }

    @Test func aServerThatClosesMidBodyFails() throws {
        let partial = Reply.response(200, [("Content-Length", "1000")], body: Array(repeating: 0x61, count: 10), length: false)
        let server = TestServer { _ in .sendAndClose(partial) }
        defer { server.stop() }
        let client = plainClient(server)
        let error = expectRegistryError(.network) { _ = try client.getManifest("latest", accept: []) }
        #expect(error?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "unexpected EOF: the server closed the connection with 990 bytes of the body still to come")

        let digest = Digest.sha256(of: [UInt8](repeating: 0x61, count: 1000))
        let reader = try client.openBlob(digest, expectedSize: 1000)
        #expect(reader.contentLength == 1000)
        let thrown = drain(reader)
        #expect(thrown?.code == .io)
        #expect(reader.failure?.code == .network)
        #expect(thrown?.message == reader.failure?.message)
    }

    @Test func refusedConnectionIsANetworkError() {
        // A port that was just free: bind, read the port, close.
        let server = TestServer { _ in .hang }
        let authority = server.authority
        server.stop()
        let client = RegistryClient(host: authority, repository: repository, credentials: nil, insecure: false,
                                    timeoutSeconds: 2)
        let error = expectRegistryError(.network) { _ = try client.blobExists(manifestDigest) }
        #expect(error?.message == "Head \"https://\(authority)/v2/library/alpine/blobs/\(manifestDigest)\": "
                    + "dial tcp \(authority): connect: Connection refused")
    }

    @Test func tooManyRedirectsStop() {
        let server = TestServer { request in .http(302, [("Location", request.path + "x")]) }
        defer { server.stop() }
        let error = expectRegistryError(.protocolError) { _ = try plainClient(server).getManifest("latest", accept: []) }
        #expect(error?.message.includes("stopped after 5 redirects") == true)
        #expect(server.requests.count == 6)
    }
}

/// Reads `reader` to its end; the ImageError it threw, if any.
func drain(_ reader: BlobReader) -> ImageError? {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 7000, alignment: 8)
    defer { buffer.deallocate() }
    do {
        while try reader.read(into: buffer) > 0 {}
        return nil
    } catch {
        return error
    }
}

/// Reads `reader` to its end, returning the bytes.
func readAll(_ reader: BlobReader) throws -> [UInt8] {
    var out: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 7000, alignment: 8)
    defer { buffer.deallocate() }
    while true {
        let n = try reader.read(into: buffer)
        if n == 0 { return out }
        out += buffer[0..<n]
    }
}

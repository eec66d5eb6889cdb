import Glibc
import Images
import Platform
import Testing
@testable import Distribution

/// Debian's docker-registry (the distribution project's registry) on 127.0.0.1, with htpasswd
/// Basic auth and filesystem storage in a temporary directory; stopped and removed afterwards.
final class RealRegistry {
    static let binary = "/usr/bin/docker-registry"
    static var available: Bool { access(binary, X_OK) == 0 && shell("command -v htpasswd >/dev/null") == 0 }

    let directory = makeTemporaryDirectory("skiff-registry-test")
    let port: Int
    private var pid: pid_t = 0
    var host: String { "127.0.0.1:\(port)" }
    var log: String { (try? FileSystem.readFile(directory + "/registry.log")).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    init(user: String, password: String) throws {
        // A port that was free a moment ago.
        let probe = TestServer { _ in .hang }
        port = probe.port
        probe.stop()
        let config = """
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: \(directory)/storage
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
              secret: skiff-distribution-test
            auth:
              htpasswd:
                realm: skiff-test
                path: \(directory)/htpasswd

            """
        try FileSystem.writeAtomically(directory + "/config.yml", Array(config.utf8), durable: false)
        try #require(shell("htpasswd -Bbn '\(user)' '\(password)' > '\(directory)/htpasswd' 2>/dev/null") == 0)
        let words = ["/bin/sh", "-c", "exec \(RealRegistry.binary) serve '\(directory)/config.yml' > '\(directory)/registry.log' 2>&1"]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { (word: String) in strdup(word) }
        defer { arguments.forEach { free($0) } }
        var argv = arguments + [nil]
        try #require(posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0)
        // Ready when it accepts connections (10 s at most).
        for _ in 0..<100 {
            if let fd = try? UnixStyleProbe.connect(port: port) {
                close(fd)
                return
            }
            usleep(100_000)
        }
        Issue.record("docker-registry did not start: \(log)")
    }

    deinit {
        if pid > 0 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        FileSystem.removeTree(directory)
    }
}

/// A TCP connect to 127.0.0.1:port, for readiness checks.
enum UnixStyleProbe {
    struct Refused: Error {}
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw Refused()
        }
        return fd
    }
}

@Suite(.enabled(if: RealRegistry.available, "needs Debian's docker-registry and htpasswd (make install-deps)"))
struct RealRegistryTests {
    @Test func pushThenPullWithBasicAuth() throws {
        let registry = try RealRegistry(user: "skiff", password: "s3cret")
        let credentials = Credentials(username: "skiff", password: "s3cret")
        let push = RegistryClient(host: registry.host, repository: "test/app", credentials: credentials,
                                  insecure: true, timeoutSeconds: 10)
        let layer = blobBytes(150_000, seed: 99)
        let layerDigest = Digest.sha256(of: layer)
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8)
        let configDigest = Digest.sha256(of: config)

        #expect(try !push.blobExists(layerDigest))
        for blob in [layer, config] {
            var offset = 0
            try push.uploadBlob(Digest.sha256(of: blob), size: Int64(blob.count), read: { buffer in
                let n = min(buffer.count, blob.count - offset)
                blob[offset..<(offset + n)].withUnsafeBytes { buffer.copyMemory(from: $0) }
                offset += n
                return n
            }, progress: nil)
        }
        #expect(try push.blobExists(layerDigest))
        #expect(push.scheme == "http")
        let manifest = Array("""
            {"schemaVersion":2,"mediaType":"\(MediaType.ociManifest)",\
            "config":{"mediaType":"\(MediaType.ociConfig)","digest":"\(configDigest)","size":\(config.count)},\
            "layers":[{"mediaType":"\(MediaType.ociLayerGzip)","digest":"\(layerDigest)","size":\(layer.count)}]}
            """.utf8)
        let pushed = try push.putManifest(manifest, mediaType: MediaType.ociManifest, reference: "v1")
        #expect(pushed == Digest.sha256(of: manifest))

        let pull = RegistryClient(host: registry.host, repository: "test/app", credentials: credentials,
                                  insecure: true, timeoutSeconds: 10)
        let byTag = try pull.getManifest("v1", accept: [MediaType.ociManifest, MediaType.ociIndex])
        #expect(byTag.bytes == manifest)
        #expect(byTag.mediaType == MediaType.ociManifest)
        #expect(byTag.digest == pushed)
        #expect(try pull.getManifest(pushed.description, accept: [MediaType.ociManifest]).bytes == manifest)
        let reader = try pull.openBlob(layerDigest, expectedSize: Int64(layer.count))
        #expect(try readAll(reader) == layer)

        // Cross-repository mount, then the mounted blob is there.
        let other = RegistryClient(host: registry.host, repository: "test/other", credentials: credentials,
                                   insecure: true, timeoutSeconds: 10)
        #expect(try other.mountBlob(layerDigest, from: "test/app"))
        #expect(try other.blobExists(layerDigest))

        let missing = expectRegistryError(.notFound) { _ = try pull.getManifest("nope", accept: [MediaType.ociManifest]) }
        #expect(missing?.message == "manifest unknown: manifest unknown")
        #expect(missing?.registryCode == "MANIFEST_UNKNOWN")
    }

    @Test func wrongPasswordAndNoCredentials() throws {
        let registry = try RealRegistry(user: "skiff", password: "s3cret")
        let wrong = RegistryClient(host: registry.host, repository: "test/app",
                                   credentials: Credentials(username: "skiff", password: "nope"), insecure: true, timeoutSeconds: 10)
        let refused = expectRegistryError(.unauthorized) { _ = try wrong.getManifest("v1", accept: []) }
        #expect(refused?.httpStatus == 401)
        #expect(refused?.message.includes("access refused as \"skiff\"") == true, "\(refused?.message ?? "")")
        let anonymous = RegistryClient(host: registry.host, repository: "test/app", credentials: nil, insecure: true,
                                       timeoutSeconds: 10)
        let error = expectRegistryError(.unauthorized) { _ = try anonymous.getManifest("v1", accept: []) }
        #expect(error?.message == "\(registry.host): the registry requires a user name and password (Basic authentication) and none were given")
    }
}

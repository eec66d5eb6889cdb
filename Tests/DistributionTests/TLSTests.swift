import COpenSSL
import Glibc
import Images
import Platform
import Testing
@testable import Distribution

/// Runs a shell script; its exit status.
func shell(_ script: String) -> Int32 {
    var pid = pid_t()
    let words: [String] = ["/bin/sh", "-c", script]
    let arguments: [UnsafeMutablePointer<CChar>?] = words.map { (word: String) in strdup(word) }
    defer { arguments.forEach { free($0) } }
    var argv = arguments + [nil]
    guard posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xff
}

/// A test CA and certificates it signed, made with the openssl command line in a temporary
/// directory (removed afterwards): `server` for localhost and 127.0.0.1, `wrong` for
/// other.example only, `client` for client authentication; `certs.d` holds ca.crt alone.
final class TLSFixture {
    let directory = makeTemporaryDirectory("skiff-tls-test")
    var certDirectory: String { directory + "/certs.d" }
    var clientCertDirectory: String { directory + "/certs.d-client" }
    let made: Bool

    init() {
        let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        func sign(_ name: String, subject: String, extensions: String) -> String {
            """
            openssl req -new \(key) -keyout \(name).key -out \(name).csr -subj '\(subject)' &&
            printf '\(extensions)' > \(name).ext &&
            openssl x509 -req -in \(name).csr -CA ca.crt -CAkey ca.key -CAcreateserial -out \(name).crt -days 2 -extfile \(name).ext
            """
        }
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -new \(key) -keyout ca.key -out ca.crt -days 2 -subj '/CN=Skiff Test CA' \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
            \(sign("server", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n"))
            \(sign("wrong", subject: "/CN=other.example", extensions: "subjectAltName=DNS:other.example\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n"))
            \(sign("client", subject: "/CN=skiff client", extensions: "basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n"))
            mkdir certs.d certs.d-client
            cp ca.crt certs.d/ca.crt
            cp ca.crt certs.d-client/ca.crt
            cp client.crt certs.d-client/client.cert
            cp client.key certs.d-client/client.key
            """
        made = shell(script + " >/dev/null 2>&1") == 0
    }

    deinit { FileSystem.removeTree(directory) }

    /// A server context with one of the certificates; `requireClient` asks for a client
    /// certificate signed by the CA.
    func serverContext(_ name: String = "server", requireClient: Bool = false) -> OpaquePointer {
        let context = SSL_CTX_new(TLS_server_method())!
        _ = skiff_ssl_ctx_configure(context)
        precondition(SSL_CTX_use_certificate_chain_file(context, directory + "/\(name).crt") == 1, "server certificate")
        precondition(SSL_CTX_use_PrivateKey_file(context, directory + "/\(name).key", SSL_FILETYPE_PEM) == 1, "server key")
        if requireClient {
            SSL_CTX_load_verify_locations(context, directory + "/ca.crt", nil)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        return context
    }
}

let opensslAvailable = shell("command -v openssl >/dev/null") == 0

@Suite(.enabled(if: opensslAvailable, "needs the openssl command line to make test certificates"))
struct TLSTests {
    func manifestServer(_ context: OpaquePointer) -> TestServer {
        TestServer(tls: context) { request in
            request.path.hasPrefix("/v2/library/alpine/blobs/")
                ? .http(200, body: BlobTests.blob)
                : .http(200, [("Content-Type", MediaType.ociManifest)], body: manifestBytes)
        }
    }

    @Test func verifiedWithTheCAFromCertDirectory() throws {
        let fixture = TLSFixture()
        try #require(fixture.made)
        let context = fixture.serverContext()
        defer { SSL_CTX_free(context) }
        let server = manifestServer(context)
        defer { server.stop() }
        for host in ["127.0.0.1", "localhost"] {
            let client = RegistryClient(host: "\(host):\(server.port)", repository: repository, credentials: nil,
                                        insecure: false, certDirectory: fixture.certDirectory, timeoutSeconds: 5)
            #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)
            let reader = try client.openBlob(BlobTests.digest, expectedSize: Int64(BlobTests.blob.count))
            #expect(try readAll(reader) == BlobTests.blob)
            #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)
        }
        // One TLS connection per client, kept alive across its requests.
        #expect(server.requests.map(\.connection) == [0, 0, 0, 1, 1, 1])
    }

    @Test func unknownCAFailsVerification() throws {
        let fixture = TLSFixture()
        try #require(fixture.made)
        let context = fixture.serverContext()
        defer { SSL_CTX_free(context) }
        let server = manifestServer(context)
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, repository: repository, credentials: nil, insecure: false,
                                    certDirectory: fixture.directory + "/nowhere", timeoutSeconds: 5)
        let error = expectRegistryError(.tls) { _ = try client.getManifest("latest", accept: []) }
        #expect(error?.message == "Get \"https://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "tls: handshake with \(server.authority): certificate verification failed: unable to get local issuer certificate")
        #expect(server.requests.isEmpty)
    }

    @Test func certificateForAnotherNameFailsVerification() throws {
        let fixture = TLSFixture()
        try #require(fixture.made)
        let context = fixture.serverContext("wrong")
        defer { SSL_CTX_free(context) }
        let server = manifestServer(context)
        defer { server.stop() }
        for host in ["127.0.0.1", "localhost"] {
            let client = RegistryClient(host: "\(host):\(server.port)", repository: repository, credentials: nil,
                                        insecure: false, certDirectory: fixture.certDirectory, timeoutSeconds: 5)
            let error = expectRegistryError(.tls) { _ = try client.getManifest("latest", accept: []) }
            let mismatch = host == "localhost" ? "hostname mismatch" : "IP address mismatch"
            #expect(error?.message.includes("certificate verification failed: \(mismatch)") == true, "\(error?.message ?? "")")
        }
    }

    @Test func insecureSkipsVerification() throws {
        let fixture = TLSFixture()
        try #require(fixture.made)
        let context = fixture.serverContext("wrong")
        defer { SSL_CTX_free(context) }
        let server = manifestServer(context)
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, repository: repository, credentials: nil, insecure: true,
                                    timeoutSeconds: 5)
        #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)
        #expect(client.scheme == "https")
        #expect(server.requests.count == 1)
    }

    @Test func insecureFallsBackToPlainHTTP() throws {
        let server = TestServer { _ in .http(200, [("Content-Type", MediaType.ociManifest)], body: manifestBytes) }
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, repository: repository, credentials: nil, insecure: true,
                                    timeoutSeconds: 5)
        #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)
        #expect(client.scheme == "http")
        #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)
        // The TLS attempt, then one plain connection for both requests.
        #expect(server.acceptedConnections == 2)
        #expect(server.requests.map(\.connection) == [1, 1])
    }

    @Test func secureClientDoesNotFallBack() throws {
        let server = TestServer { _ in .http(200, body: manifestBytes) }
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, repository: repository, credentials: nil, insecure: false,
                                    timeoutSeconds: 5)
        let error = expectRegistryError(.tls) { _ = try client.getManifest("latest", accept: []) }
        #expect(error?.message.includes("tls: handshake with \(server.authority): ") == true)
        #expect(server.requests.isEmpty)
    }

    @Test func clientCertificateFromCertDirectory() throws {
        let fixture = TLSFixture()
        try #require(fixture.made)
        let context = fixture.serverContext(requireClient: true)
        defer { SSL_CTX_free(context) }
        let server = manifestServer(context)
        defer { server.stop() }
        let client = RegistryClient(host: server.authority, repository: repository, credentials: nil, insecure: false,
                                    certDirectory: fixture.clientCertDirectory, timeoutSeconds: 5)
        #expect(try client.getManifest("latest", accept: []).digest == manifestDigest)

        // Without it the server refuses (TLS 1.3 reports this after the client's handshake).
        let anonymous = RegistryClient(host: server.authority, repository: repository, credentials: nil, insecure: false,
                                       certDirectory: fixture.certDirectory, timeoutSeconds: 5)
        do {
            _ = try anonymous.getManifest("latest", accept: [])
            Issue.record("expected the server to refuse a client without a certificate")
        } catch {
            #expect(error.code == .network || error.code == .tls)
            #expect(error.message.includes("certificate required"), "\(error.message)")
        }
    }
}

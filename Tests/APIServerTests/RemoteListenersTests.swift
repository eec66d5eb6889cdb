import Testing
@testable import APIServer

/// `-H` values and the TLS options of `skiff service` (issue 12, item 14): what is served, and
/// what is refused with which message.
struct RemoteListenersTests {
    @Test(arguments: [
        ("tcp://127.0.0.1:2376", "127.0.0.1", UInt16(2376)),
        ("tcp://0.0.0.0:2375/", "0.0.0.0", UInt16(2375)),
        ("tcp://localhost:1", "localhost", UInt16(1)),
        ("tcp://[::1]:65535", "::1", UInt16(65535)),
    ])
    func parsesAddresses(text: String, host: String, port: UInt16) throws {
        let address = try TCPAddress.parse(text)
        #expect(address == TCPAddress(host: host, port: port))
        #expect(try TCPAddress.parse(address.description) == address)
    }

    @Test(arguments: [
        ("tcp://127.0.0.1", "host tcp://127.0.0.1: no port (tcp://ADDR:PORT; dockerd's usual port with TLS is 2376)"),
        ("tcp://:2376", "host tcp://:2376: no address (tcp://127.0.0.1:PORT for this machine only, tcp://0.0.0.0:PORT for every interface)"),
        ("tcp://127.0.0.1:0", "host tcp://127.0.0.1:0: '0' is not a port (1-65535)"),
        ("tcp://127.0.0.1:70000", "host tcp://127.0.0.1:70000: '70000' is not a port (1-65535)"),
        ("tcp://::1:2376", "host tcp://::1:2376: an IPv6 address is written tcp://[ADDR]:PORT"),
        ("tcp://[::1]2376", "host tcp://[::1]2376: an IPv6 address is written tcp://[ADDR]:PORT"),
    ])
    func refusesBadAddresses(text: String, message: String) {
        #expect(throws: ServiceError.self) { try TCPAddress.parse(text) }
        do {
            _ = try TCPAddress.parse(text)
        } catch {
            #expect(error.message == message)
        }
    }

    static func resolve(_ hosts: [String], verify: Bool = false, ca: String? = nil, cert: String? = nil,
                        key: String? = nil, plain: Bool = false, inherited: [CInt] = [],
                        environment: [String: String] = [:]) -> Result<(String?, RemoteListeners?), ServiceError> {
        do {
            let resolved = try RemoteListeners.resolve(hosts: hosts, tlsVerify: verify, caFile: ca, certFile: cert,
                                                       keyFile: key, insecurePlain: plain, inheritedTCP: inherited,
                                                       environment: environment)
            return .success((resolved.unixPath, resolved.remote))
        } catch {
            return .failure(error)
        }
    }

    static func failure(_ result: Result<(String?, RemoteListeners?), ServiceError>) -> String? {
        if case .failure(let error) = result { return error.message }
        return nil
    }

    @Test func mutualTLSFromFlags() throws {
        let (unix, remote) = try Self.resolve(["tcp://127.0.0.1:2376", "unix:///tmp/s.sock"], verify: true,
                                              ca: "/c/ca.pem", cert: "/c/cert.pem", key: "/c/key.pem").get()
        #expect(unix == "/tmp/s.sock")
        #expect(remote == RemoteListeners(addresses: [TCPAddress(host: "127.0.0.1", port: 2376)], inherited: [],
                                          security: .mutualTLS(caFile: "/c/ca.pem", certFile: "/c/cert.pem",
                                                               keyFile: "/c/key.pem")))
        #expect(remote?.insecureWarning == nil)
    }

    @Test func environmentAsDockerdReadsIt() throws {
        let environment = ["SKIFF_HOST": "tcp://127.0.0.1:2376, tcp://[::1]:2377", "SKIFF_TLS_VERIFY": "1",
                           "SKIFF_CERT_PATH": "/etc/skiff/tls"]
        let (unix, remote) = try Self.resolve([], environment: environment).get()
        #expect(unix == nil)
        #expect(remote == RemoteListeners(
            addresses: [TCPAddress(host: "127.0.0.1", port: 2376), TCPAddress(host: "::1", port: 2377)], inherited: [],
            security: .mutualTLS(caFile: "/etc/skiff/tls/ca.pem", certFile: "/etc/skiff/tls/cert.pem",
                                 keyFile: "/etc/skiff/tls/key.pem")))
        // -H wins over SKIFF_HOST; a flag over SKIFF_CERT_PATH.
        let (_, flagged) = try Self.resolve(["tcp://127.0.0.1:9"], ca: "/mine/ca.pem", environment: environment).get()
        #expect(flagged?.addresses == [TCPAddress(host: "127.0.0.1", port: 9)])
        #expect(flagged?.security == .mutualTLS(caFile: "/mine/ca.pem", certFile: "/etc/skiff/tls/cert.pem",
                                                keyFile: "/etc/skiff/tls/key.pem"))
    }

    @Test func socketActivatedTCPNeedsTLSToo() throws {
        #expect(Self.failure(Self.resolve([], inherited: [4])) == "refusing to serve the API on socket-activated descriptor 4 without TLS: whoever can connect would control this user's containers and run programs as this user. Give --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (mutual TLS, as dockerd), or --insecure-plain-tcp to serve it unauthenticated anyway")
        let (_, remote) = try Self.resolve([], verify: true, ca: "a", cert: "b", key: "c", inherited: [4]).get()
        #expect(remote?.inherited == [4])
        #expect(remote?.addresses == [])
    }

    @Test func unixOnlyIsUnchanged() throws {
        let (unix, remote) = try Self.resolve([]).get()
        #expect(unix == nil && remote == nil)
        // SKIFF_TLS_VERIFY alone (no TCP host) changes nothing.
        let (_, none) = try Self.resolve([], environment: ["SKIFF_TLS_VERIFY": "1"]).get()
        #expect(none == nil)
    }

    @Test func plainTCPOnlyByName() throws {
        #expect(Self.failure(Self.resolve(["tcp://127.0.0.1:2375"])) == "refusing to serve the API on tcp://127.0.0.1:2375 without TLS: whoever can connect would control this user's containers and run programs as this user. Give --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (mutual TLS, as dockerd), or --insecure-plain-tcp to serve it unauthenticated anyway")
        let (_, remote) = try Self.resolve(["tcp://127.0.0.1:2375"], plain: true).get()
        #expect(remote?.security == .insecurePlain)
        #expect(remote?.insecureWarning == "WARNING: serving the API on tcp://127.0.0.1:2375 WITHOUT TLS (--insecure-plain-tcp): anyone who can connect controls this user's containers and can run programs as this user")
        // SKIFF_TLS_VERIFY from the environment does not override the explicit opt-out.
        let (_, explicit) = try Self.resolve(["tcp://127.0.0.1:2375"], plain: true,
                                             environment: ["SKIFF_TLS_VERIFY": "1"]).get()
        #expect(explicit?.security == .insecurePlain)
    }

    @Test(arguments: [
        (["tcp://127.0.0.1:2376"], false, true, false,
         "TLS without --tlsverify would let any client in: add --tlsverify (client certificates signed by --tlscacert)"),
        (["tcp://127.0.0.1:2376"], true, false, false,
         "--tlsverify needs --tlscacert (or SKIFF_CERT_PATH, a directory with ca.pem, cert.pem and key.pem)"),
        (["tcp://127.0.0.1:2376"], true, true, true,
         "--insecure-plain-tcp and the TLS options contradict each other: give one or the other"),
        ([], true, true, false, "the TLS options apply to tcp:// hosts, and no -H tcp://ADDR:PORT is given"),
        (["unix://relative.sock"], false, false, false,
         "host unix://relative.sock: the socket path must be absolute (unix:///PATH)"),
        (["unix:///a.sock", "unix:///b.sock"], false, false, false,
         "host unix:///b.sock: only one unix socket is served (/a.sock already)"),
        (["ssh://host"], false, false, false, "host ssh://host: not tcp://ADDR:PORT or unix:///PATH"),
    ])
    func refusals(hosts: [String], verify: Bool, withCA: Bool, plain: Bool, message: String) {
        let result = Self.resolve(hosts, verify: verify, ca: withCA ? "/c/ca.pem" : nil, plain: plain)
        #expect(Self.failure(result) == message)
    }
}

import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The service's TCP listeners (`-H tcp://ADDR:PORT`, `SKIFF_HOST`, or TCP sockets passed by
/// systemd): served by `skiff-tls`, a process of their own that terminates mutual TLS and
/// forwards each authenticated connection to the service's unix socket, so the service (and
/// the unix-socket path) never maps BoringSSL. Plain TCP only when the user asked for it by name.
public struct RemoteListeners: Equatable, Sendable {
    /// How clients on TCP are authenticated.
    public enum Security: Equatable, Sendable {
        /// dockerd's `--tlsverify`: the client's certificate must be signed by the CA.
        case mutualTLS(caFile: String, certFile: String, keyFile: String)
        /// `--insecure-plain-tcp`: no TLS, no authentication.
        case insecurePlain
    }

    /// Addresses the service binds.
    public var addresses: [TCPAddress]
    /// Listening TCP sockets passed by systemd socket activation.
    public var inherited: [CInt]
    public var security: Security

    public init(addresses: [TCPAddress], inherited: [CInt], security: Security) {
        self.addresses = addresses
        self.inherited = inherited
        self.security = security
    }

    /// What `skiff service` was given: `-H` values (else `SKIFF_HOST`, comma-separated), the TLS
    /// flags (else `SKIFF_TLS_VERIFY` and the ca.pem, cert.pem, key.pem of `SKIFF_CERT_PATH`, as
    /// dockerd reads `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), and the TCP sockets systemd
    /// passed. Returns the unix socket named by a `unix://` host (nil: the default) and the TCP
    /// listeners (nil: none).
    public static func resolve(hosts: [String], tlsVerify: Bool, caFile: String?, certFile: String?, keyFile: String?,
                               insecurePlain: Bool, inheritedTCP: [CInt],
                               environment: [String: String]) throws(ServiceError) -> (unixPath: String?, remote: RemoteListeners?) {
        var hostList = hosts
        if hostList.isEmpty, let variable = environment["SKIFF_HOST"], !variable.isEmpty {
            hostList = variable.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        }
        var unixPath: String?
        var addresses: [TCPAddress] = []
        for host in hostList {
            if host.hasPrefix("unix://") {
                let path = String(host.dropFirst("unix://".count))
                guard path.hasPrefix("/") else {
                    throw ServiceError("host \(host): the socket path must be absolute (unix:///PATH)")
                }
                guard unixPath == nil else {
                    throw ServiceError("host \(host): only one unix socket is served (\(unixPath ?? "") already)")
                }
                unixPath = path
            } else if host.hasPrefix("tcp://") {
                addresses.append(try TCPAddress.parse(host))
            } else {
                throw ServiceError("host \(host): not tcp://ADDR:PORT or unix:///PATH")
            }
        }

        let certPath = environment["SKIFF_CERT_PATH"].flatMap { $0.isEmpty ? nil : $0 }
        let tcpWanted = !addresses.isEmpty || !inheritedTCP.isEmpty
        let fileFlagGiven = caFile != nil || certFile != nil || keyFile != nil
        guard tcpWanted else {
            if tlsVerify || fileFlagGiven || insecurePlain {
                throw ServiceError("the TLS options apply to tcp:// hosts, and no -H tcp://ADDR:PORT is given")
            }
            return (unixPath, nil)
        }
        let verify = tlsVerify || (!insecurePlain && !(environment["SKIFF_TLS_VERIFY"] ?? "").isEmpty)
        let shown = (addresses.map(\.description) + inheritedTCP.map { "socket-activated descriptor \($0)" })
            .joined(separator: ", ")
        if insecurePlain {
            guard !tlsVerify && !fileFlagGiven else {
                throw ServiceError("--insecure-plain-tcp and the TLS options contradict each other: give one or the other")
            }
            return (unixPath, RemoteListeners(addresses: addresses, inherited: inheritedTCP, security: .insecurePlain))
        }
        guard verify else {
            if fileFlagGiven {
                throw ServiceError("TLS without --tlsverify would let any client in: add --tlsverify (client certificates signed by --tlscacert)")
            }
            throw ServiceError("refusing to serve the API on \(shown) without TLS: whoever can connect would control this user's containers and run programs as this user. Give --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (mutual TLS, as dockerd), or --insecure-plain-tcp to serve it unauthenticated anyway")
        }
        func file(_ given: String?, flag: String, name: String) throws(ServiceError) -> String {
            if let given { return given }
            if let certPath { return certPath + "/" + name }
            throw ServiceError("--tlsverify needs \(flag) (or SKIFF_CERT_PATH, a directory with ca.pem, cert.pem and key.pem)")
        }
        let security = Security.mutualTLS(caFile: try file(caFile, flag: "--tlscacert", name: "ca.pem"),
                                          certFile: try file(certFile, flag: "--tlscert", name: "cert.pem"),
                                          keyFile: try file(keyFile, flag: "--tlskey", name: "key.pem"))
        return (unixPath, RemoteListeners(addresses: addresses, inherited: inheritedTCP, security: security))
    }

    /// The warning printed when TCP is served without TLS.
    public var insecureWarning: String? {
        guard security == .insecurePlain else { return nil }
        let shown = (addresses.map(\.description) + inherited.map { "socket-activated descriptor \($0)" })
            .joined(separator: ", ")
        return "WARNING: serving the API on \(shown) WITHOUT TLS (--insecure-plain-tcp): anyone who can connect controls this user's containers and can run programs as this user"
    }

    /// Binds the addresses and starts `skiff-tls` on them and on the inherited sockets, forwarding
    /// to the unix socket `listen`; returns when it serves.
    func start(upstream listen: ListenSocket) throws(ServiceError) -> TLSFrontendProcess {
        guard let upstream = listen.socketPath else {
            throw ServiceError("the tcp listeners forward to the unix socket, and the inherited one has no path")
        }
        var bound: [CInt] = []
        defer { for fd in bound { close(fd) } }
        for address in addresses {
            bound.append(try address.bindListening())
        }
        var arguments = ["--upstream", upstream, "--listeners", String(bound.count + inherited.count)]
        switch security {
        case .mutualTLS(let caFile, let certFile, let keyFile):
            arguments += ["--tlscacert", caFile, "--tlscert", certFile, "--tlskey", keyFile]
        case .insecurePlain:
            arguments += ["--insecure-plain-tcp"]
        }
        return try TLSFrontendProcess.start(arguments: arguments, listeners: bound + inherited)
    }
}

extension ListenSocket {
    /// The unix socket's path: the one bound, or the inherited socket's own (getsockname).
    var socketPath: String? {
        switch self {
        case .path(let path, _):
            return path
        case .inherited(let fd):
            var address = sockaddr_un()
            var length = socklen_t(MemoryLayout<sockaddr_un>.size)
            let status = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard status == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
            let path = withUnsafeBytes(of: address.sun_path) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return path.hasPrefix("/") ? path : nil
        }
    }
}

private extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}

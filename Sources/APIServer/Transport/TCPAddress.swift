import CLinux
import Glibc

/// A `tcp://HOST:PORT` listening address (`tcp://[::1]:2376` for IPv6), as dockerd's `-H`.
public struct TCPAddress: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
    }

    public static func parse(_ text: String) throws(ServiceError) -> TCPAddress {
        guard text.hasPrefix("tcp://") else { throw ServiceError("host \(text): not tcp://ADDR:PORT") }
        var rest = Substring(text.dropFirst("tcp://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw ServiceError("host \(text): an IPv6 address is written tcp://[ADDR]:PORT")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else {
                throw ServiceError("host \(text): no port (tcp://ADDR:PORT; dockerd's usual port with TLS is 2376)")
            }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            guard !host.contains(":") else {
                throw ServiceError("host \(text): an IPv6 address is written tcp://[ADDR]:PORT")
            }
        }
        guard !host.isEmpty else {
            throw ServiceError("host \(text): no address (tcp://127.0.0.1:PORT for this machine only, tcp://0.0.0.0:PORT for every interface)")
        }
        guard let port = UInt16(portText), port > 0 else {
            throw ServiceError("host \(text): '\(portText)' is not a port (1-65535)")
        }
        return TCPAddress(host: String(host), port: port)
    }

    /// A listening socket on this address (close-on-exec; the first address the name resolves
    /// to), or the step that failed.
    func bindListening(backlog: CInt = 256) throws(ServiceError) -> CInt {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ServiceError("listen \(self): resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServiceError("listen \(self): socket: \(String(cString: strerror(errno)))") }
        var one: CInt = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let error = errno
            close(fd)
            throw ServiceError("listen \(self): bind: \(String(cString: strerror(error)))")
        }
        guard listen(fd, backlog) == 0 else {
            let error = errno
            close(fd)
            throw ServiceError("listen \(self): listen: \(String(cString: strerror(error)))")
        }
        return fd
    }
}

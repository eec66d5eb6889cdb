#if canImport(Glibc)
import Glibc
#endif

/// The sockets systemd passed by socket activation (`LISTEN_PID` names this process,
/// `LISTEN_FDS` counts them from descriptor 3), sorted by family: the unix socket is served by
/// the service itself, TCP sockets by `skiff-tls` (mutual TLS). The variables are unset so that
/// children do not take them for their own.
public struct ActivatedSockets: Equatable, Sendable {
    public var unix: CInt?
    public var tcp: [CInt]

    /// systemd's `SD_LISTEN_FDS_START`.
    static let first: CInt = 3

    public static func take() throws(ServiceError) -> ActivatedSockets? {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }),
              let fdsText = getenv("LISTEN_FDS").map({ String(cString: $0) }),
              let pid = Int32(pidText), pid == getpid(),
              let count = Int32(fdsText), count >= 1 else {
            return nil
        }
        var sockets = ActivatedSockets(unix: nil, tcp: [])
        for fd in first..<(first + count) {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let status = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard status == 0 else {
                throw ServiceError("socket activation: descriptor \(fd): getsockname: \(String(cString: strerror(errno)))")
            }
            switch CInt(address.ss_family) {
            case AF_UNIX:
                guard sockets.unix == nil else {
                    throw ServiceError("socket activation: descriptors \(sockets.unix ?? 0) and \(fd) are both unix sockets; the service serves one")
                }
                sockets.unix = fd
            case AF_INET, AF_INET6:
                sockets.tcp.append(fd)
            default:
                throw ServiceError("socket activation: descriptor \(fd) is neither a unix nor a TCP socket (family \(address.ss_family))")
            }
        }
        return sockets
    }
}

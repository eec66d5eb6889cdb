#if canImport(Glibc)
import Glibc
#endif

/// Client side of a unix stream socket.
public enum UnixSocket {
    /// Connects to the socket at `path`; returns the descriptor (close-on-exec), which the caller
    /// closes. ENAMETOOLONG when the path does not fit a `sockaddr_un`.
    public static func connect(_ path: String) throws(SystemError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError(errno: ENAMETOOLONG, operation: "connect", path: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(errno: errno, operation: "socket", path: path) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let error = SystemError(errno: errno, operation: "connect", path: path)
            close(fd)
            throw error
        }
        return fd
    }
}

import CLinux
import Glibc

extension ListenSocket {
    /// A unix stream socket bound to `path` (mode 0600) and listening (non-blocking,
    /// close-on-exec): made here rather than by NIO so that the service knows its descriptor
    /// (`AcceptShedder`). The umask is narrowed for the bind call alone: it is the process's, and
    /// a directory another thread made while it was 0177 would lack its search bit (a Store
    /// opened by the first request once made `data` 0600 and then failed on `data/containers`).
    static func bindUnix(_ path: String, backlog: Int32) throws -> CInt {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ServiceError("socket path is too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                        | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw ServiceError("socket for \(path): \(String(cString: strerror(errno)))") }
        let previous = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        let bindErrno = errno
        umask(previous)
        errno = bindErrno
        guard bound == 0, listen(fd, backlog) == 0 else {
            let message = "bind \(path): \(String(cString: strerror(errno)))"
            close(fd)
            throw ServiceError(message)
        }
        return fd
    }
}

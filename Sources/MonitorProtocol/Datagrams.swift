import Platform

#if canImport(Glibc)
import Glibc
#endif

/// One end of the sync socket (a SOCK_SEQPACKET socketpair): datagrams in and out. The typed
/// channels over it are `ToMonitor` and `ToService`, one per direction.
struct Datagrams {
    let fd: Int32

    /// The largest datagram either side sends (a warm monitor's arguments).
    static let limit = 64 << 10

    func send(_ bytes: [UInt8]) throws(SyncError) {
        guard fd >= 0 else { throw SyncError.closed }
        let n = bytes.withUnsafeBytes { raw in Syscall.retrying { Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) } }
        if n == bytes.count { return }
        if n < 0 && (errno == EPIPE || errno == ECONNRESET) { throw SyncError.closed }
        throw SyncError.system(operation: "send", errno: n < 0 ? errno : EMSGSIZE)
    }

    /// One datagram; `timeout` in milliseconds (-1: none).
    func receive(timeout: Int32) throws(SyncError) -> [UInt8] {
        guard fd >= 0 else { throw SyncError.closed }
        if timeout >= 0 {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let n = Syscall.retrying { poll(&poller, 1, timeout) }
            if n < 0 { throw SyncError.system(operation: "poll", errno: errno) }
            if n == 0 { throw SyncError.timedOut }
        }
        var buffer = [UInt8](repeating: 0, count: Datagrams.limit)
        let n = buffer.withUnsafeMutableBytes { raw in Syscall.retrying { recv(fd, raw.baseAddress, raw.count, 0) } }
        if n > 0 { return Array(buffer[..<n]) }
        if n == 0 { throw SyncError.closed }
        if errno == ECONNRESET { throw SyncError.closed }
        throw SyncError.system(operation: "recv", errno: errno)
    }

    /// One datagram decoded by `decode`; a datagram it refuses is `unexpected`.
    func receive<Message>(timeout: Int32, expected: String,
                          _ decode: ([UInt8]) -> Message?) throws(SyncError) -> Message {
        let bytes = try receive(timeout: timeout)
        guard let message = decode(bytes) else {
            throw SyncError.unexpected(expected: expected, received: String(decoding: bytes.prefix(64), as: UTF8.self))
        }
        return message
    }
}

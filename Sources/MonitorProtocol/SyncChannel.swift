#if canImport(Glibc)
import Glibc
#endif

/// What went wrong on the sync socket.
public enum SyncError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The other side reported a failure (the monitor: creating or starting failed).
    case failed(StartFailure)
    /// The other side closed its end (it exited, or gave up).
    case closed
    /// Nothing came in time.
    case timedOut
    /// A message that is not the one this step waits for (out of order, or unknown).
    case unexpected(expected: String, received: String)
    /// send or recv failed.
    case system(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .failed(let failure): return failure.message
        case .closed: return "the other end of the sync socket closed"
        case .timedOut: return "no answer on the sync socket"
        case .unexpected(let expected, let received): return "sync socket: expected \(expected), received \(received)"
        case .system(let operation, let errno): return "sync socket: \(operation): \(String(cString: strerror(errno)))"
        }
    }
}

/// One end of the sync socket (a SOCK_SEQPACKET socketpair): datagrams in and out. The typed
/// ends are `ServiceChannel` and `MonitorChannel`.
struct Datagrams {
    let fd: Int32

    /// The largest datagram either side sends (a warm monitor's arguments).
    static let limit = 64 << 10

    func send(_ bytes: [UInt8]) throws(SyncError) {
        guard fd >= 0 else { throw SyncError.closed }
        while true {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n == bytes.count { return }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EPIPE || errno == ECONNRESET) { throw SyncError.closed }
            throw SyncError.system(operation: "send", errno: n < 0 ? errno : EMSGSIZE)
        }
    }

    /// One datagram; `timeout` in milliseconds (-1: none).
    func receive(timeout: Int32) throws(SyncError) -> [UInt8] {
        guard fd >= 0 else { throw SyncError.closed }
        if timeout >= 0 {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while true {
                let n = poll(&poller, 1, timeout)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw SyncError.system(operation: "poll", errno: errno) }
                if n == 0 { throw SyncError.timedOut }
                break
            }
        }
        var buffer = [UInt8](repeating: 0, count: Datagrams.limit)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { return Array(buffer[..<n]) }
            if n == 0 { throw SyncError.closed }
            if errno == EINTR { continue }
            if errno == ECONNRESET { throw SyncError.closed }
            throw SyncError.system(operation: "recv", errno: errno)
        }
    }
}

/// The service's end of the sync socket: sends `ServiceMessage`s, receives `MonitorMessage`s,
/// in the order of docs/containers.md (arguments to a warm monitor; `created`; `start`;
/// `started`). Anything out of that order is a `SyncError.unexpected`.
public struct ServiceChannel: Sendable {
    public let fd: Int32
    private var datagrams: Datagrams { Datagrams(fd: fd) }

    public init(fd: Int32) { self.fd = fd }

    /// Hands a warm monitor its container.
    public func sendArguments(_ arguments: WarmArguments) throws(SyncError) {
        try datagrams.send(ServiceMessage.arguments(arguments).bytes)
    }

    /// Waits for `created <pid>`; throws the monitor's failure.
    public func waitCreated(timeout: Int32) throws(SyncError) -> Int32 {
        switch try receive(timeout: timeout, expected: "created") {
        case .created(let pid): return pid
        case .failed(let failure): throw SyncError.failed(failure)
        case let other: throw SyncError.unexpected(expected: "created", received: ServiceChannel.name(other))
        }
    }

    /// Says `start` and waits for `started`; throws the monitor's failure.
    public func start(timeout: Int32) throws(SyncError) {
        try datagrams.send(ServiceMessage.start.bytes)
        switch try receive(timeout: timeout, expected: "started") {
        case .started: return
        case .failed(let failure): throw SyncError.failed(failure)
        case let other: throw SyncError.unexpected(expected: "started", received: ServiceChannel.name(other))
        }
    }

    /// Stops sending (the monitor sees the end: it gives up the container it created) and waits
    /// until the monitor closes its end, or `timeout` milliseconds pass without a datagram.
    public func abandon(timeout: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
        while (try? datagrams.receive(timeout: timeout)) != nil {}
    }

    public func close() { _ = Glibc.close(fd) }

    private func receive(timeout: Int32, expected: String) throws(SyncError) -> MonitorMessage {
        let bytes = try datagrams.receive(timeout: timeout)
        guard let message = MonitorMessage(bytes: bytes) else {
            throw SyncError.unexpected(expected: expected, received: String(decoding: bytes.prefix(64), as: UTF8.self))
        }
        return message
    }

    private static func name(_ message: MonitorMessage) -> String {
        switch message {
        case .created: return "created"
        case .started: return "started"
        case .failed: return "error"
        }
    }
}

/// The monitor's end of the sync socket: receives `ServiceMessage`s, sends `MonitorMessage`s.
/// A monitor that skiff-relay execs back has none (`fd` -1: every send is dropped).
public struct MonitorChannel: Sendable {
    public let fd: Int32
    private var datagrams: Datagrams { Datagrams(fd: fd) }

    public init(fd: Int32) { self.fd = fd }

    /// A warm monitor's first datagram: its container's arguments.
    public func waitForArguments() throws(SyncError) -> WarmArguments {
        switch try receive(expected: "args") {
        case .arguments(let arguments): return arguments
        case .start: throw SyncError.unexpected(expected: "args", received: "start")
        }
    }

    /// Waits for `start`.
    public func waitForStart() throws(SyncError) {
        switch try receive(expected: "start") {
        case .start: return
        case .arguments: throw SyncError.unexpected(expected: "start", received: "args")
        }
    }

    /// The container is created; its process waits for `start`.
    public func created(pid: Int32) { send(.created(pid: pid)) }

    /// The program runs.
    public func started() { send(.started) }

    /// Creating or starting failed.
    public func failed(_ failure: StartFailure) { send(.failed(failure)) }

    /// The service may have gone: nothing to do about a send that fails (the monitor goes on
    /// with what it was doing, or gives up when `start` does not come).
    private func send(_ message: MonitorMessage) {
        guard fd >= 0 else { return }
        try? datagrams.send(message.bytes)
    }

    private func receive(expected: String) throws(SyncError) -> ServiceMessage {
        let bytes = try datagrams.receive(timeout: -1)
        guard let message = ServiceMessage(bytes: bytes) else {
            throw SyncError.unexpected(expected: expected, received: String(decoding: bytes.prefix(64), as: UTF8.self))
        }
        return message
    }
}

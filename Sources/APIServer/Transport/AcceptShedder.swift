import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// What the listening socket does when accept fails for want of descriptors (EMFILE, ENFILE;
/// issue 12 item 5). The pending connection stays in the backlog and the socket stays readable,
/// and NIO, whose read is still pending after the failure, accepts again at once: one core
/// spins (its AcceptBackoffHandler only delays the next read, not the pending one). So the
/// service keeps one descriptor in reserve (/dev/null); on such a failure it gives it up,
/// accepts each waiting connection itself, answers it 503 with a message that says why, and
/// closes it (libuv and nginx keep a spare descriptor the same way), then takes the reserve
/// back. A client gets a clear error at once instead of a hang, and the loop sleeps until the
/// next connection. The first failure of each run is reported on stderr.
final class AcceptShedder: Sendable {
    private struct State {
        var listening: CInt = -1
        var spare: CInt = -1
        var reported = false
    }

    private let state = NIOLockedValueBox(State())

    init() {
        state.withLockedValue { $0.spare = open("/dev/null", O_RDONLY | O_CLOEXEC) }
    }

    /// The listening socket's descriptor, once it exists.
    func listening(on fd: CInt) {
        state.withLockedValue { $0.listening = fd }
    }

    /// The handler for the listening channel's pipeline.
    func handler() -> Handler { Handler(shedder: self) }

    /// The response of a connection turned away.
    static let refusal: [UInt8] = {
        let body = Response.error(APIError(.serviceUnavailable,
            "too many open files: the service has no descriptor left for this connection; try again later")).body
        let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            + "Connection: close\r\nServer: \(HTTPHandler.serverHeader)\r\n\r\n"
        return Array(head.utf8) + body
    }()

    /// Accepts and turns away every connection waiting in the backlog, with the spare descriptor
    /// freed. Returns how many were turned away.
    @discardableResult
    func shed(_ error: Int32) -> Int {
        state.withLockedValue { state in
            guard state.listening >= 0 else { return 0 }
            if !state.reported {
                state.reported = true
                let line = "skiff service: accept: \(String(cString: strerror(error))); "
                    + "connections are answered 503 until descriptors are free again\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
            }
            if state.spare >= 0 { close(state.spare) }
            state.spare = -1
            var count = 0
            while true {
                // Closed right after (no exec can come between): no need for accept4's flags.
                let fd = accept(state.listening, nil, nil)
                if fd < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    break   // EAGAIN: none left; EMFILE: not even the spare's slot is free
                }
                // The client writes its request after its connect: closing before it has would
                // fail that write (broken pipe) and it would never read the answer. The first
                // few wait a moment for the request, which is read and dropped.
                if count < Self.waitedFor { Self.drainRequest(fd) }
                _ = Self.refusal.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                close(fd)
                count += 1
            }
            state.spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
            return count
        }
    }

    /// Connections per shedding whose request is waited for (`drainRequest`), so that an event
    /// loop is held up at most that many times `requestWaitMillis`.
    static let waitedFor = 8
    static let requestWaitMillis: Int32 = 50

    /// Waits up to `requestWaitMillis` for the client's request head and reads what came.
    private static func drainRequest(_ fd: CInt) {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, requestWaitMillis) > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 8192)
        _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
    }

    /// An accept succeeded: the next failure is reported again.
    func accepted() {
        state.withLockedValue { $0.reported = false }
    }

    /// First in the listening channel's pipeline.
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = any Channel
        typealias InboundOut = any Channel

        private let shedder: AcceptShedder

        init(shedder: AcceptShedder) {
            self.shedder = shedder
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            shedder.accepted()
            context.fireChannelRead(data)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let error = error as? IOError, error.errnoCode == EMFILE || error.errnoCode == ENFILE {
                shedder.shed(error.errnoCode)
                return
            }
            context.fireErrorCaught(error)
        }
    }
}

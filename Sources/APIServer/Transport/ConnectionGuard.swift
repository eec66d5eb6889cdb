import NIOCore

/// First in a connection's pipeline: keeps the connection's entry in the `ConnectionTable` and
/// carries out its limits on the connection's own event loop. A connection waiting for a head
/// past the header timeout is answered 408 (some of a head came) or closed (nothing came); one
/// idle past the keep-alive timeout, or evicted to make room, is closed. `HTTPHandler` tells it
/// when a request begins (from then on the connection is busy: streams and hijacked
/// connections are never timed out) and when a response has ended.
final class ConnectionGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Sent by the table's sweep: a deadline may have passed.
    struct Expire: Sendable {}
    /// Sent by the table: a new connection needs this one's place, if it is still waiting.
    struct Evict: Sendable {}
    /// The service stops (`ConnectionTable.shutdown`).
    struct Shutdown: Sendable {}

    private let table: ConnectionTable
    private var key: ObjectIdentifier?
    private var phase = ConnectionTable.Phase.busy
    /// Bytes of a request head came since the phase began.
    private var sawBytes = false
    private var context: ChannelHandlerContext?

    init(table: ConnectionTable) {
        self.table = table
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let now = ConnectionTable.now()
        let key = ObjectIdentifier(context.channel)
        guard table.admit(context.channel, now: now) else {
            refuse(context: context)
            return
        }
        self.key = key
        phase = .header(since: now)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let key { table.remove(key) }
        key = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .idle:
            // The next request's first byte: its head must now come within the header timeout.
            setPhase(.header(since: ConnectionTable.now()))
            sawBytes = true
        case .header:
            sawBytes = true
        case .busy, .stream:
            break
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is Expire:
            guard let due = table.deadline(phase), ConnectionTable.now() >= due else { return }
            if case .header = phase, sawBytes {
                let seconds = table.limits.headerTimeout
                write(context: context, status: "408 Request Timeout",
                      message: "the request head did not arrive within \(seconds) seconds")
            } else {
                context.close(promise: nil)
            }
        case is Evict:
            guard phase != .busy && phase != .stream else { return }
            context.close(promise: nil)
        case is Shutdown:
            // A request in flight is answered first (`responseEnded` closes then).
            guard phase != .busy else { return }
            context.close(promise: nil)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A request head has arrived: the connection is busy until its response ends.
    func requestStarted() {
        setPhase(.busy)
    }

    /// The response waits for things to happen (`ConnectionTable.Phase.stream`).
    func streamStarted() {
        setPhase(.stream)
    }

    /// A response has ended and the connection is kept alive, unless the service stops.
    func responseEnded() {
        sawBytes = false
        setPhase(.idle(since: ConnectionTable.now()))
        if table.isShuttingDown, let context {
            // After what was written for the response (an empty write completes after them).
            let channel = context.channel
            context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    private func setPhase(_ new: ConnectionTable.Phase) {
        guard new != phase else { return }
        phase = new
        if let key { table.update(key, new) }
    }

    /// The cap is reached and every connection is busy.
    private func refuse(context: ChannelHandlerContext) {
        write(context: context, status: "503 Service Unavailable",
              message: "too many connections: the service holds at most \(table.maxConnections) (--max-connections)")
    }

    /// Writes an error response as raw bytes (the HTTP encoder comes after this handler) and closes.
    private func write(context: ChannelHandlerContext, status: String, message: String) {
        let body = Response.error(APIError(.serviceUnavailable, message)).body
        let head = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            + "Connection: close\r\nServer: \(HTTPHandler.serverHeader)\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + body.count)
        buffer.writeString(head)
        buffer.writeBytes(body)
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}

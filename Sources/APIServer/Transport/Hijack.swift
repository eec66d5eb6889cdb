import NIOCore

/// A response that takes over the connection (attach, later exec start): after the head, the
/// connection carries raw bytes both ways.
///
/// The head is Docker's: `HTTP/1.1 101 UPGRADED` with `Connection: Upgrade`, `Upgrade: tcp`
/// when the client asked for an upgrade (the docker CLI and docker-py do), else the old
/// `HTTP/1.1 200 OK`; `Content-Type: application/vnd.docker.multiplexed-stream` for an
/// upgraded multiplexed stream, `application/vnd.docker.raw-stream` otherwise (moby's rule).
public struct Hijack: Sendable {
    /// The stream carries Docker's 8-byte frames (a non-TTY container at API >= 1.42).
    var multiplexed: Bool
    /// Makes the session on the connection's event loop, when the connection switches.
    var makeSession: @Sendable () -> any HijackSession

    init(multiplexed: Bool, makeSession: @escaping @Sendable () -> any HijackSession) {
        self.multiplexed = multiplexed
        self.makeSession = makeSession
    }

    static let rawStream = "application/vnd.docker.raw-stream"
    static let multiplexedStream = "application/vnd.docker.multiplexed-stream"

    /// The response head as moby writes it, plus the headers every Skiff response has.
    static func head(upgraded: Bool, multiplexed: Bool) -> String {
        var text: String
        if upgraded {
            text = "HTTP/1.1 101 UPGRADED\r\nContent-Type: \(multiplexed ? multiplexedStream : rawStream)\r\n"
                + "Connection: Upgrade\r\nUpgrade: tcp\r\n"
        } else {
            text = "HTTP/1.1 200 OK\r\nContent-Type: \(rawStream)\r\n"
        }
        text += "Api-Version: \(APIVersion.current)\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
            + "Server: \(HTTPHandler.serverHeader)\r\n\r\n"
        return text
    }
}

/// What runs a hijacked connection. Every call comes on the connection's event loop.
protocol HijackSession: AnyObject {
    /// The connection is raw and the head has been written. `pool` has threads for blocking work.
    func start(client: any Channel, pool: BlockingPool)
    /// Bytes from the client (the first may be bytes sent with the request).
    func clientRead(_ buffer: ByteBuffer)
    /// The client shut down its sending side (stdin EOF).
    func clientInputClosed()
    /// The connection is gone.
    func clientClosed()
    func clientWritabilityChanged(_ writable: Bool)
}

/// The only handler left on a hijacked connection: hands everything to the session, and keeps
/// the connection counted as activity for the idle timer until it closes.
final class RawConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: any HijackSession
    private let activity: ActivityMonitor
    private var counted = true

    /// `activity` has already been begun for this connection; this handler ends it.
    init(session: any HijackSession, activity: ActivityMonitor) {
        self.session = session
        self.activity = activity
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.clientRead(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            session.clientInputClosed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.clientWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            activity.end()
        }
        session.clientClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The connection was already closed when the switch happened.
    func abandon() {
        if counted {
            counted = false
            activity.end()
        }
        session.clientClosed()
    }
}

/// First in a connection's pipeline: holds back the client's end of input (half-close) while a
/// request that may hijack the connection is handled. Otherwise the HTTP decoder would see the
/// end first and drop the bytes that came after the request (stdin sent with it) instead of
/// handing them to the raw connection; released once the response is decided.
final class InputEndGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    private var holding = false
    private var held = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if holding, case .inputClosed? = event as? ChannelEvent {
            held = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// From now on the end of input waits for `release`.
    func hold() {
        holding = true
    }

    /// Delivers an end of input that was held.
    func release() {
        holding = false
        if held, let context {
            held = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }
}

/// Names of the HTTP handlers in a connection's pipeline (Service), so a hijack can remove them.
enum PipelineNames {
    static let gate = "input-end-gate"
    static let encoder = "http-encoder"
    static let decoder = "http-decoder"
    static let pipelining = "http-pipelining"
    static let errors = "http-errors"
}

extension HTTPHandler {
    /// Turns the connection into a raw one for `hijack`. Order matters: the handlers that
    /// expect HTTP response parts go before the head is written as bytes; this handler goes
    /// before the decoder, whose removal forwards any bytes that came after the request (stdin
    /// sent at once) to the raw handler.
    func switchToRaw(context: ChannelHandlerContext, request: HTTPRequestHeadInfo, hijack: Hijack,
                     activity: ActivityMonitor, pool: BlockingPool) {
        let session = hijack.makeSession()
        let raw = RawConnectionHandler(session: session, activity: activity)
        guard context.channel.isActive else {
            raw.abandon()
            return
        }
        let pipeline = context.pipeline.syncOperations
        do {
            try pipeline.addHandler(raw)
            var removals: [EventLoopFuture<Void>] = []
            for name in [PipelineNames.encoder, PipelineNames.errors, PipelineNames.pipelining] {
                removals.append(pipeline.removeHandler(name: name))
            }
            let head = Hijack.head(upgraded: request.upgrade, multiplexed: hijack.multiplexed)
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: head)), promise: nil)
            removals.append(pipeline.removeHandler(context: context))
            let decoderRemoved = pipeline.removeHandler(name: PipelineNames.decoder)
            removals.append(decoderRemoved)
            // A handler left in place would take the raw bytes for HTTP: give up the connection.
            let channel = context.channel
            for removal in removals {
                removal.whenFailure { _ in channel.close(promise: nil) }
            }
            // An end of input held while the request was handled reaches the session once the
            // decoder has handed over the bytes that came before it (its removal is deferred).
            if let gate = try? pipeline.handler(type: InputEndGate.self) {
                decoderRemoved.assumeIsolated().whenSuccess {
                    gate.release()
                    _ = channel.pipeline.syncOperations.removeHandler(gate)
                }
            }
        } catch {
            context.close(promise: nil)
            return
        }
        session.start(client: context.channel, pool: pool)
    }
}

/// What a hijack needs to know about the request.
struct HTTPRequestHeadInfo {
    /// The client sent `Upgrade:` (then it expects 101).
    var upgrade: Bool
}

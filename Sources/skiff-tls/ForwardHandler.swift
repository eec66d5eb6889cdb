import NIOCore
import NIOSSL

/// One half of a forwarded connection: what this channel reads is written to `partner`, the other
/// channel, and the partner's handler does the same the other way. Reading pauses while the
/// partner cannot take more (no unbounded buffering: `logs -f` of a fast writer to a slow client
/// stays bounded); a half-close (TLS close_notify or FIN) is passed on as a half-close once what
/// was read before it is written, so `docker attach`/`run -i` with stdin ending keep their output.
final class ForwardHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The other side's handler; nil until the upstream connection is made, and after close.
    var partner: ForwardHandler?
    private var context: ChannelHandlerContext?
    /// Bytes read before there was a partner to write them to (the request that follows the
    /// handshake while the upstream connection is still being made).
    private var early: [ByteBuffer] = []
    private var inputEndedEarly = false
    /// A read the channel asked for while the partner could not take more.
    private var readHeld = false
    /// Completes when everything written to this channel so far has been written.
    private var lastWrite: EventLoopFuture<Void>?
    private var closed = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    /// Called on one side when the other is connected: bytes and a half-close that came early,
    /// on either side, are passed on now.
    func join(_ other: ForwardHandler) {
        partner = other
        other.partner = self
        passEarly(to: other)
        other.passEarly(to: self)
    }

    private func passEarly(to other: ForwardHandler) {
        for buffer in early { other.forward(buffer) }
        early = []
        other.flushForwarded()
        if inputEndedEarly { other.endOutput() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let partner {
            partner.forward(buffer)
        } else {
            early.append(buffer)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flushForwarded()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            if let partner { partner.endOutput() } else { inputEndedEarly = true }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        partner?.closeAfterWrites()
        partner = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // TCP's end of input without TLS's close_notify: NIOSSL reports it, then passes the
        // half-close on (inputClosed, below). The docker CLI half-closes a hijacked TLS
        // connection this way (CloseWrite on the TCP connection under TLS), and the output
        // that follows stdin's end must still reach it.
        if let sslError = error as? NIOSSLError, case .uncleanShutdown = sslError {
            return
        }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner, !partner.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    // MARK: what the partner calls

    private var isWritable: Bool { context?.channel.isWritable ?? true }

    private func forward(_ buffer: ByteBuffer) {
        guard let context, !closed else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(buffer), promise: promise)
        lastWrite = promise.futureResult
    }

    private func flushForwarded() {
        context?.flush()
    }

    private func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }

    /// The partner's input ended: end this side's output after what was forwarded.
    private func endOutput() {
        guard let context, !closed else { return }
        let channel = context.channel
        let whenWritten = lastWrite ?? context.eventLoop.makeSucceededVoidFuture()
        context.flush()
        whenWritten.whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
    }

    /// The partner closed: close this side once what was forwarded is written.
    private func closeAfterWrites() {
        guard let context, !closed else { return }
        let channel = context.channel
        let whenWritten = lastWrite ?? context.eventLoop.makeSucceededVoidFuture()
        context.flush()
        whenWritten.whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

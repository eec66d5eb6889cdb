import NIOCore

/// First on a TLS port: a client that speaks plain HTTP gets Go's answer (what dockerd says,
/// `400 Client sent an HTTP request to an HTTPS server.`) instead of a TLS alert it cannot read;
/// anything else that is not a TLS handshake record is closed. A TLS client's bytes pass on
/// untouched and the handler removes itself.
final class PlainHTTPRefuser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let answer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    /// The first byte of every TLS record that starts a handshake.
    static let handshakeRecord: UInt8 = 0x16

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == Self.handshakeRecord {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        refused = true
        Log.line("\(UpstreamConnector.peer(context.channel)): not a TLS handshake (plain HTTP?); refused")
        if first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z") {
            let channel = context.channel
            let reply = channel.allocator.buffer(string: Self.answer)
            context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }
}

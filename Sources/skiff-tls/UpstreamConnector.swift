import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#endif

/// On a client's connection: once the client is authenticated (the TLS handshake verified its
/// certificate against the CA; in plain mode, at once), connects to the service's unix socket
/// and joins the two channels' `ForwardHandler`s. A handshake that has not finished within
/// `handshakeLimit` is given up, so half-open clients do not hold descriptors.
final class UpstreamConnector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let handshakeLimit: TimeAmount = .seconds(10)

    let upstreamPath: String
    let requiresHandshake: Bool
    let forward: ForwardHandler
    private var connected = false
    private var timeout: Scheduled<Void>?

    init(upstreamPath: String, requiresHandshake: Bool, forward: ForwardHandler) {
        self.upstreamPath = upstreamPath
        self.requiresHandshake = requiresHandshake
        self.forward = forward
    }

    func channelActive(context: ChannelHandlerContext) {
        if requiresHandshake {
            let channel = context.channel
            timeout = context.eventLoop.scheduleTask(in: Self.handshakeLimit) {
                Log.line("\(UpstreamConnector.peer(channel)): TLS handshake not finished within 10 s; closed")
                channel.close(promise: nil)
            }
        } else {
            connect(context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timeout?.cancel()
            connect(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !connected {
            Log.line("\(Self.peer(context.channel)): TLS handshake: \(error)")
        }
        context.fireErrorCaught(error)
    }

    private func connect(context: ChannelHandlerContext) {
        guard !connected else { return }
        connected = true
        let client = context.channel
        // The connection completes on this event loop (the bootstrap's group is the loop).
        let forward = NIOLoopBound(self.forward, eventLoop: context.eventLoop)
        let path = upstreamPath
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { upstream in
                upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(ForwardHandler())
                }
            }
            .connect(unixDomainSocketPath: path)
            .whenComplete { result in
                switch result {
                case .success(let upstream):
                    guard client.isActive else {
                        upstream.close(promise: nil)
                        return
                    }
                    do {
                        let other = try upstream.pipeline.syncOperations.handler(type: ForwardHandler.self)
                        forward.value.join(other)
                    } catch {
                        Log.line("\(Self.peer(client)): join \(path): \(error)")
                        upstream.close(promise: nil)
                        client.close(promise: nil)
                    }
                case .failure(let error):
                    Log.line("\(Self.peer(client)): connect to the service at \(path): \(error)")
                    client.close(promise: nil)
                }
            }
    }

    /// The client as `ADDR:PORT` (`[ADDR]:PORT` for IPv6), for the log.
    static func peer(_ channel: Channel) -> String {
        guard let address = channel.remoteAddress, let ip = address.ipAddress, let port = address.port else {
            return "tcp peer"
        }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// One line on stderr, prefixed `skiff-tls:` (the service's journal).
enum Log {
    static func line(_ message: String) {
        let text = "skiff-tls: " + message + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}

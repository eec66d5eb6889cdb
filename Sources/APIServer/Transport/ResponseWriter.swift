import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Writes a streamed response from a thread that is not the connection's event loop. Each
/// write waits until NIO has flushed it, so a slow client slows the producer instead of
/// filling memory; a client that went away makes the next write throw.
public final class ResponseWriter: Sendable {
    private let channel: any Channel
    private let head: HTTPResponseHead
    private let isHead: Bool
    private let state = NIOLockedValueBox(false)

    init(channel: any Channel, head: HTTPResponseHead, isHead: Bool) {
        self.channel = channel
        self.head = head
        self.isHead = isHead
    }

    /// Whether the head has been sent (the status can no longer change).
    public var committed: Bool { state.withLockedValue { $0 } }

    /// Sends `bytes` (and the head first, if not yet sent).
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        commit()
        guard !isHead, bytes.count > 0 else { return }
        let buffer = channel.allocator.buffer(bytes: bytes)
        do {
            try channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer))).wait()
        } catch {
            throw APIError(.internalServerError, "the client went away: \(error)")
        }
    }

    /// Sends `buffer` without waiting: the future completes when NIO has flushed it. A producer
    /// that keeps one such write in flight (`settle` before the next) reads its next chunk while
    /// the last one goes out.
    public func send(_ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        commit()
        guard !isHead, buffer.readableBytes > 0 else { return channel.eventLoop.makeSucceededVoidFuture() }
        return channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)))
    }

    /// Waits for a `send`.
    public func settle(_ sent: EventLoopFuture<Void>) throws {
        do {
            try sent.wait()
        } catch {
            throw APIError(.internalServerError, "the client went away: \(error)")
        }
    }

    /// For buffers to `send`.
    public var allocator: ByteBufferAllocator { channel.allocator }

    /// Sends the head now: a stream that may stay silent for a while (`logs -f`, events) lets
    /// its client know it is there, as moby's flush of the head does.
    public func sendHead() {
        commit()
        channel.flush()
    }

    /// Whether the client closed the connection (a silent stream notices this way).
    public var isClientGone: Bool { !channel.isActive }

    /// Sends the head if it has not gone yet.
    func commit() {
        let first = state.withLockedValue { sent in
            defer { sent = true }
            return !sent
        }
        if first { channel.write(HTTPServerResponsePart.head(head), promise: nil) }
    }
}

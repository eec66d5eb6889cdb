import NIOCore
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A request body handed to its handler while it arrives (`Route.follows`: `docker cp` into a
/// container), so that the work on it overlaps the upload instead of following it. The
/// connection's event loop pushes the chunks; the handler's thread takes them (`copy(to:)`
/// writes them into a worker's pipe). At most `highWater` bytes wait here: past that the event
/// loop stops reading the connection (`push` says so) until the handler has taken them down
/// to `lowWater` and `resume` runs.
public final class BodyFeed: @unchecked Sendable {
    public static let highWater = 4 << 20
    public static let lowWater = 1 << 20

    /// Why the handler got no more of the body.
    public enum Failure: Error, Equatable {
        /// The client went away before the end of the body.
        case clientGone
    }

    private let mutex = PosixMutex()
    private var chunks: [ByteBuffer] = []
    private var first = 0
    private var queued = 0
    private var ended = false
    private var aborted = false
    /// The handler stopped taking chunks: those still to come are dropped.
    private var discarding = false
    private var paused = false
    /// Runs (on any thread) when reading the connection may start again after `push` paused it.
    private let resume: @Sendable () -> Void

    public init(resume: @escaping @Sendable () -> Void) {
        self.resume = resume
    }

    // MARK: - the event loop's side

    /// Adds a chunk; true when the connection's reading should pause (too much waits here).
    func push(_ chunk: ByteBuffer) -> Bool {
        mutex.lock()
        defer { mutex.unlock() }
        guard !discarding, !aborted else { return false }
        chunks.append(chunk)
        queued += chunk.readableBytes
        mutex.broadcast()
        if queued > BodyFeed.highWater {
            paused = true
            return true
        }
        return false
    }

    /// The body is complete.
    func finish() {
        mutex.lock()
        ended = true
        mutex.broadcast()
        mutex.unlock()
    }

    /// The connection closed before the end of the body.
    func abort() {
        mutex.lock()
        if !ended { aborted = true }
        chunks.removeAll()
        first = 0
        queued = 0
        mutex.broadcast()
        mutex.unlock()
    }

    // MARK: - the handler's side

    /// The next chunk, waiting for it; nil at the end of the body.
    public func next() throws(Failure) -> ByteBuffer? {
        try nextChunks(max: 1)?.first
    }

    /// Every chunk waiting (at most `max`), waiting for one; nil at the end of the body.
    public func nextChunks(max: Int) throws(Failure) -> ArraySlice<ByteBuffer>? {
        mutex.lock()
        while first == chunks.count && !ended && !aborted { mutex.wait() }
        if aborted {
            mutex.unlock()
            throw .clientGone
        }
        guard first < chunks.count else {
            mutex.unlock()
            return nil
        }
        let end = min(chunks.count, first + Swift.max(max, 1))
        let taken = chunks[first..<end]
        first = end
        if first == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            first = 0
        }
        queued -= taken.reduce(0) { $0 + $1.readableBytes }
        let wake = paused && queued <= BodyFeed.lowWater
        if wake { paused = false }
        mutex.unlock()
        if wake { resume() }
        return taken
    }

    /// Drops what is queued and whatever comes later (the handler's consumer failed), and lets
    /// the connection be read again so that the rest of the body can be skipped.
    public func discard() {
        mutex.lock()
        discarding = true
        chunks.removeAll()
        first = 0
        queued = 0
        let wake = paused
        paused = false
        mutex.unlock()
        if wake { resume() }
    }

    /// Writes the whole body to `fd` (a pipe to a worker), as it arrives. Returns nil when all
    /// of it was written, or the errno of the write that failed (EPIPE: the reader is gone),
    /// after which the rest is discarded. Throws when the client went away.
    public func copy(to fd: Int32) throws(Failure) -> Int32? {
        // All that waits goes in one writev: the event loop usually queues several chunks
        // while this thread waits on the pipe, and each write would be a wake-up of the reader.
        while let batch = try nextChunks(max: 64) {
            if let code = BodyFeed.writeAll(batch, to: fd) {
                discard()
                return code
            }
        }
        return nil
    }

    /// Writes `chunks` to `fd` whole (writev, continuing after short writes); the errno of a
    /// failed write, or nil.
    static func writeAll(_ chunks: ArraySlice<ByteBuffer>, to fd: Int32) -> Int32? {
        var pending = Array(chunks)
        while !pending.isEmpty {
            let written: Int = withIOVectors(pending) { vectors in
                Syscall.retrying { writev(fd, vectors.baseAddress, Int32(vectors.count)) }
            }
            if written < 0 { return errno }
            var left = written
            while left > 0, let head = pending.first {
                if head.readableBytes <= left {
                    left -= head.readableBytes
                    pending.removeFirst()
                } else {
                    pending[0].moveReaderIndex(forwardBy: left)
                    left = 0
                }
            }
            while let head = pending.first, head.readableBytes == 0 { pending.removeFirst() }
        }
        return nil
    }

    /// Calls `body` with an iovec for each buffer's readable bytes (valid only inside it).
    private static func withIOVectors<R>(_ buffers: [ByteBuffer], _ body: (UnsafeBufferPointer<iovec>) -> R) -> R {
        func nest(_ index: Int, _ vectors: inout [iovec]) -> R {
            guard index < buffers.count else { return vectors.withUnsafeBufferPointer(body) }
            return buffers[index].withUnsafeReadableBytes { raw in
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
                return nest(index + 1, &vectors)
            }
        }
        var vectors: [iovec] = []
        vectors.reserveCapacity(buffers.count)
        return nest(0, &vectors)
    }
}

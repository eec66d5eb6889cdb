import ContainerLogs
import MonitorProtocol
import NIOCore
import NIOPosix
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// What an attach relays, decided by the handler from the request and the container.
struct AttachOptions: Sendable {
    var containerID: String
    /// The client's bytes go to the container's stdin (asked for, and the container has
    /// `OpenStdin`).
    var stdin: Bool
    var stdout: Bool
    var stderr: Bool
    /// Replay the log first.
    var logs: Bool
    /// Relay the live streams (else only the log replay).
    var stream: Bool
    var tty: Bool
    var stdinOnce: Bool
    var detachKeys: DetachKeys
    var logPath: String
    /// `<run>/containers/<id>`.
    var runDirectory: String
    /// Held until the session is registered or ends (a start waits for it).
    var ticket: AttachTicket?
    /// `attach` and `detach` events are recorded (a container's attach; not an exec's).
    var recordsEvents = true

    /// The streams asked for: the byte the monitor reads first.
    var mask: AttachMask {
        var mask: AttachMask = []
        if stdin { mask.insert(.stdin) }
        if stdout { mask.insert(.stdout) }
        if stderr { mask.insert(.stderr) }
        return mask
    }

    /// A client's stdin EOF ends the attach (moby closes the output streams), except for a
    /// `StdinOnce` container without a TTY, whose stdin closes while its output goes on.
    var inputEOFEndsSession: Bool { tty || !stdinOnce }
}

/// One attach: relays between the client's hijacked connection and the monitor's attach
/// socket, both channels on the client's event loop. Every method but `connected(fd:)` and
/// `cancel()` (which hop there) runs on that loop.
///
/// Phases: `preparing` (log replay and the first connect, on a pool thread), `waiting` (in the
/// registry until the container starts), `connecting`, `relaying`, `finished`. Stdin that
/// comes before the monitor connection is held (up to `heldInputLimit`, then the client is
/// not read until the connection is made). The monitor's output is written to the client
/// with back-pressure both ways (a side that cannot take more stops reading the other).
///
/// Endings: the monitor closes (the container exited) -> output flushed, client closed;
/// detach keys (TTY) -> monitor connection closed without a half-close first (the container's
/// stdin stays open), client closed; client stdin EOF -> half-close to the monitor (stdin
/// EOF), and for a TTY or a container without `StdinOnce` the attach ends, as moby's does;
/// client gone -> monitor connection closed.
final class AttachSession: HijackSession, @unchecked Sendable {
    let options: AttachOptions
    private let engine: Engine
    private let registry: AttachRegistry
    private let record: ContainerEvents.Actor

    private enum Phase { case preparing, waiting, connecting, relaying, finished }
    private var phase = Phase.preparing
    private var client: (any Channel)?
    private var loop: (any EventLoop)?
    private var monitor: (any Channel)?
    private var heldInput: [UInt8] = []
    private var inputClosed = false
    private var matcher: DetachMatcher
    /// The last write to the client, and to the monitor: closing waits for them.
    private var lastWrite: EventLoopFuture<Void>?
    private var lastMonitorWrite: EventLoopFuture<Void>?
    /// Bytes read before `start` (sent with the request), not yet looked at.
    private var early: [ByteBuffer] = []
    private var started = false

    static let heldInputLimit = 1 << 20

    init(options: AttachOptions, engine: Engine, actor: ContainerEvents.Actor) {
        self.options = options
        self.engine = engine
        self.registry = engine.attachments
        self.record = actor
        self.matcher = DetachMatcher(options.detachKeys)
    }

    // MARK: - HijackSession

    func start(client: any Channel, pool: BlockingPool) {
        self.client = client
        self.loop = client.eventLoop
        started = true
        for buffer in early { clientRead(buffer) }
        early = []
        let options = self.options
        let engine = self.engine
        let actor = self.record
        pool.run(on: client.eventLoop) { () -> Bool in
            if options.logs {
                guard AttachSession.replayLog(options, to: client) else { return false }
            }
            if options.recordsEvents { ContainerEvents.record(engine, actor, action: "attach") }
            return options.stream
        }.assumeIsolated().whenComplete { result in
            guard case .success(true) = result else {
                self.finish(flush: true)
                return
            }
            guard self.phase == .preparing else { return }
            self.phase = .waiting
            // Connecting blocks (briefly, under the registry's lock): a pool thread does it.
            pool.run(on: client.eventLoop) {
                self.registry.attachOrWait(self, directory: options.runDirectory)
            }.whenComplete { result in
                if case .failure = result { self.cancel() }
                self.scheduleRetry()
            }
        }
    }

    /// While waiting, tries the monitor's socket now and then (`AttachRegistry`).
    private func scheduleRetry() {
        guard let loop else { return }
        loop.scheduleTask(in: .milliseconds(AttachRegistry.retryMilliseconds)) {
            guard self.phase == .waiting else { return }
            let directory = self.options.runDirectory
            NIOThreadPool.singleton.runIfActive(eventLoop: loop) {
                self.registry.retry(self, directory: directory)
            }.whenSuccess { done in
                if !done { self.scheduleRetry() }
            }
        }
    }

    func clientRead(_ buffer: ByteBuffer) {
        guard started else {
            early.append(buffer)
            return
        }
        guard phase != .finished, options.stdin else { return }
        var bytes = Array(buffer.readableBytesView)
        var detach = false
        if options.tty {
            switch matcher.feed(bytes) {
            case .forward(let out): bytes = out
            case .detach(let out): bytes = out; detach = true
            }
        }
        send(bytes)
        if detach { detached() }
    }

    func clientInputClosed() {
        guard options.stdin, !inputClosed, phase != .finished else { return }
        inputClosed = true
        if options.inputEOFEndsSession {
            finish(flush: true)
        } else if let monitor {
            monitor.close(mode: .output, promise: nil)
        }
    }

    func clientClosed() {
        finish(flush: false)
    }

    func clientWritabilityChanged(_ writable: Bool) {
        guard let monitor else { return }
        monitor.setOption(ChannelOptions.autoRead, value: writable).whenSuccess {
            if writable { monitor.read() }
        }
    }

    // MARK: - The monitor's side

    /// A connection to the monitor's attach socket, mask byte sent (any thread).
    func connected(fd: Int32) {
        guard let loop else {
            close(fd)
            return
        }
        loop.execute { self.adopt(fd) }
    }

    /// Ends the session from outside (its start failed, the container is removed): any thread.
    func cancel() {
        guard let loop else { return }
        loop.execute { self.finish(flush: true) }
    }

    private func adopt(_ fd: Int32) {
        guard phase != .finished, let loop else {
            close(fd)
            return
        }
        phase = .connecting
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MonitorHandler(session: self))
                }
            }
            .withConnectedSocket(fd)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard self.phase != .finished else {
                        channel.close(promise: nil)
                        return
                    }
                    self.monitor = channel
                    self.phase = .relaying
                    if !self.heldInput.isEmpty {
                        self.lastMonitorWrite = channel.writeAndFlush(channel.allocator.buffer(bytes: self.heldInput))
                        self.heldInput = []
                    }
                    if self.inputClosed { channel.close(mode: .output, promise: nil) }
                    _ = self.client?.setOption(ChannelOptions.autoRead, value: true)
                case .failure:
                    self.finish(flush: true)
                }
            }
    }

    func monitorRead(_ buffer: ByteBuffer) {
        guard phase != .finished, let client else { return }
        guard options.stdout || options.stderr else { return }
        lastWrite = client.write(buffer)
        if !client.isWritable {
            _ = monitor?.setOption(ChannelOptions.autoRead, value: false)
        }
    }

    func monitorReadComplete() {
        client?.flush()
    }

    func monitorWritabilityChanged(_ writable: Bool) {
        guard options.stdin, let client else { return }
        client.setOption(ChannelOptions.autoRead, value: writable).whenSuccess {
            if writable { client.read() }
        }
    }

    func monitorClosed() {
        finish(flush: true)
    }

    // MARK: - Internals

    private func send(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if let monitor {
            lastMonitorWrite = monitor.writeAndFlush(monitor.allocator.buffer(bytes: bytes))
            if !monitor.isWritable { _ = client?.setOption(ChannelOptions.autoRead, value: false) }
        } else {
            heldInput += bytes
            if heldInput.count >= AttachSession.heldInputLimit {
                _ = client?.setOption(ChannelOptions.autoRead, value: false)
            }
        }
    }

    /// The detach keys were typed: leave the container as it is.
    private func detached() {
        let engine = self.engine
        let actor = self.record
        if options.recordsEvents {
            NIOThreadPool.singleton.submit { _ in ContainerEvents.record(engine, actor, action: "detach") }
        }
        finish(flush: true)
    }

    private func finish(flush: Bool) {
        guard phase != .finished else { return }
        phase = .finished
        options.ticket?.give()
        registry.remove(self)
        heldInput = []
        if let monitor {
            // Stdin already sent (the bytes before detach keys) goes out before the close.
            if let lastMonitorWrite {
                lastMonitorWrite.whenComplete { _ in monitor.close(promise: nil) }
            } else {
                monitor.close(promise: nil)
            }
            self.monitor = nil
        }
        guard let client else { return }
        if flush, client.isActive {
            client.flush()
            if let lastWrite {
                lastWrite.whenComplete { _ in client.close(promise: nil) }
            } else {
                client.close(promise: nil)
            }
        } else {
            client.close(promise: nil)
        }
    }

    /// Writes the whole log (the streams asked for) to the client, from a pool thread; false
    /// when the client went away.
    static func replayLog(_ options: AttachOptions, to client: any Channel) -> Bool {
        guard options.stdout || options.stderr, let reader = try? LogReader(path: options.logPath) else { return true }
        let format = LogFormat(multiplexed: !options.tty, timestamps: false)
        let selection = LogReader.Options(stdout: options.stdout, stderr: options.stderr)
        struct ClientGone: Error {}
        var chunk: [UInt8] = []
        func flush() throws {
            guard !chunk.isEmpty else { return }
            guard (try? client.writeAndFlush(client.allocator.buffer(bytes: chunk)).wait()) != nil else { throw ClientGone() }
            chunk = []
        }
        do {
            try reader.copy(selection, as: LogEncoding(multiplexed: format.multiplexed, timestamps: format.timestamps),
                            chunkBytes: 64 << 10) { bytes in
                chunk = bytes
                try flush()
            }
        } catch is ClientGone {
            return false
        } catch {
            return true
        }
        return true
    }
}

/// The monitor's side of an attach: hands reads and the end to the session.
final class MonitorHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let session: AttachSession

    init(session: AttachSession) {
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.monitorRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session.monitorReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.monitorWritabilityChanged(context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.monitorClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

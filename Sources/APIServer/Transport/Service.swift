import NIOCore
import NIOHTTP1
import NIOPosix
import NIOConcurrencyHelpers
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `skiff service`: serves the API until it has been idle for the timeout or gets SIGTERM.
public struct Service {
    public var listen: ListenSocket
    /// Seconds without activity before exiting; 0 = never.
    public var idleTimeout: Int
    public var engine: Engine
    /// Header and keep-alive timeouts and the connection cap.
    public var connectionLimits = ConnectionLimits()
    /// TCP listeners (`-H tcp://...`), served by `skiff-tls`; nil: the unix socket only.
    public var remote: RemoteListeners?

    /// SIGTERM waits this long for requests in flight before it exits anyway.
    public static let drainLimitSeconds: Int64 = 10

    public init(listen: ListenSocket, idleTimeout: Int, engine: Engine, remote: RemoteListeners? = nil) {
        self.listen = listen
        self.idleTimeout = idleTimeout
        self.engine = engine
        self.remote = remote
    }

    static let pipelineSetup = NIOLock()

    /// The main thread waits in sigwait: SIGUSR1 tells it the service is done.
    static func wakeMainThread() {
        _ = kill(getpid(), SIGUSR1)
    }

    /// Serves until idle or terminated; returns when the service has stopped.
    public func run() throws {
        // Signals are taken by the main thread with sigwait: block them before any thread exists
        // so that every thread inherits the mask. SIGUSR1 is how the service tells itself to exit.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGUSR1)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        if case .path(let path, let ownDirectory) = listen {
            try ListenSocket.prepare(path: path, ownDirectory: ownDirectory)
        }
        engine.removeLeftoverBuilds()
        // Connections and streams hold descriptors: the soft limit goes up to the hard one (the
        // programs the service starts put the original back, FileLimit).
        let descriptors = FileLimit.raiseForService()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(System.coreCount, 2))
        let pool = BlockingPool(threads: 2)
        let streams = BlockingPool(threads: 8)
        defer {
            // Requests that wait (container waits) see `stopping` and end; the pools drain
            // while the event loops still run, since their work completes on them.
            engine.stopping.withLock { $0 = true }
            pool.shutdown()
            streams.shutdown()
            engine.longPool.shutdown()
            try? group.syncShutdownGracefully()
        }

        let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)
        let activity = ActivityMonitor(timeoutSeconds: idleTimeout, loop: group.next()) {
            let channel = serverChannel.withLockedValue { $0 }
            if let channel {
                channel.close().whenComplete { _ in Service.wakeMainThread() }
            } else {
                Service.wakeMainThread()
            }
        }
        let router = Router(routes: Routes.all)
        let shedder = AcceptShedder()
        let limits = connectionLimits
        let connections = ConnectionTable(
            limits: limits, loop: group.next(),
            maxConnections: limits.maxConnections ?? ConnectionLimits.defaultMaxConnections(descriptorLimit: descriptors))
        let engine = self.engine
        // The pipeline's handler types are made once here, before two connections can make
        // them at once on two event loops (a crash in the runtime's type metadata was seen on
        // the first concurrent connections).
        _ = HTTPResponseEncoder()
        _ = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
        _ = HTTPServerPipelineHandler()
        _ = HTTPServerProtocolErrorHandler()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { channel in
                // Out of descriptors, waiting connections are answered 503 instead of spinning.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(shedder.handler())
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Reads grow from 2 KiB up to 1 MiB while they come full (NIO's default stops at
            // 64 KiB): a large upload (`docker cp`, `docker load`) takes a sixteenth of the
            // reads and trips through the pipeline; small requests keep small buffers.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048,
                                                                                        maximum: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // One pipeline is set up at a time: see the types made above.
                    try Service.pipelineSetup.withLock {
                    let sync = channel.pipeline.syncOperations
                    let connection = ConnectionGuard(table: connections)
                    try sync.addHandler(connection)
                    try sync.addHandler(InputEndGate(), name: PipelineNames.gate)
                    try sync.addHandler(HTTPResponseEncoder(), name: PipelineNames.encoder)
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
                                        name: PipelineNames.decoder)
                    try sync.addHandler(HTTPServerPipelineHandler(), name: PipelineNames.pipelining)
                    try sync.addHandler(HTTPServerProtocolErrorHandler(), name: PipelineNames.errors)
                    try sync.addHandler(HTTPHandler(router: router, engine: engine, activity: activity, pool: pool,
                                                            streams: streams, connection: connection))
                    }
                }
            }

        // The TCP listeners' TLS front end, a process of its own (it ends with the service).
        let frontend = try remote.map { try $0.start(upstream: listen) }
        defer { frontend?.stop() }

        let channel: any Channel
        var ownedSocket: (path: String, inode: ino_t)?
        switch listen {
        case .inherited(let fd):
            shedder.listening(on: fd)
            channel = try bootstrap.withBoundSocket(fd).wait()
        case .path(let path, _):
            let fd = try ListenSocket.bindUnix(path, backlog: 256)
            shedder.listening(on: fd)
            channel = try bootstrap.withBoundSocket(fd).wait()
            chmod(path, 0o600)
            var info = stat()
            if stat(path, &info) == 0 { ownedSocket = (path, info.st_ino) }
        }
        serverChannel.withLockedValue { $0 = channel }
        activity.started()

        // SIGUSR1: the idle timer decided to exit. SIGTERM/SIGINT: stop accepting, let requests in
        // flight finish (up to the drain limit), then exit.
        var draining = false
        while true {
            var caught: Int32 = 0
            guard sigwait(&signals, &caught) == 0 else { continue }
            if caught == SIGUSR1 { break }
            if !draining {
                draining = true
                channel.close(promise: nil)
                // Streams that wait (container waits, logs -f, events, attach) and idle
                // connections close now; requests in flight are answered first.
                connections.shutdown()
                activity.drain()
                channel.eventLoop.scheduleTask(in: .seconds(Service.drainLimitSeconds)) {
                    Service.wakeMainThread()
                }
            }
        }
        channel.close(promise: nil)
        if let owned = ownedSocket {
            var info = stat()
            if stat(owned.path, &info) == 0 && info.st_ino == owned.inode {
                unlink(owned.path)
            }
        }
    }
}

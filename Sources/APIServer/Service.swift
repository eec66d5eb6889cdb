import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `skiff service`: serves the API until it has been idle for the timeout or gets SIGTERM.
public struct Service {
    public var listen: ListenSocket
    /// Seconds without activity before exiting; 0 = never.
    public var idleTimeout: Int
    public var engine: Engine

    /// SIGTERM waits this long for requests in flight before it exits anyway.
    public static let drainLimitSeconds: Int64 = 10

    public init(listen: ListenSocket, idleTimeout: Int, engine: Engine) {
        self.listen = listen
        self.idleTimeout = idleTimeout
        self.engine = engine
    }

    public static var routes: [Route] { SystemHandlers.routes }

    /// Serves until idle or terminated; returns when the service has stopped.
    public func run() throws {
        // SIGTERM and SIGINT are taken by one thread with sigwait: block them before any thread
        // exists so that every thread inherits the mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        if case .path(let path, let ownDirectory) = listen {
            try ListenSocket.prepare(path: path, ownDirectory: ownDirectory)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(System.coreCount, 2))
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let signalThread = NIOThreadPool(numberOfThreads: 1)
        signalThread.start()
        defer {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
        }

        let exit = group.next().makePromise(of: Void.self)
        let serverChannel = Mutex<(any Channel)?>(nil)
        let activity = ActivityMonitor(timeoutSeconds: idleTimeout, loop: group.next()) {
            let channel = serverChannel.withLock { $0 }
            if let channel {
                channel.close().whenComplete { _ in exit.succeed() }
            } else {
                exit.succeed()
            }
        }
        let router = Router(routes: Service.routes)
        let engine = self.engine
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
                    try sync.addHandler(HTTPServerPipelineHandler())
                    try sync.addHandler(HTTPServerProtocolErrorHandler())
                    try sync.addHandler(HTTPHandler(router: router, engine: engine, activity: activity, pool: pool))
                }
            }

        let channel: any Channel
        var ownedSocket: (path: String, inode: ino_t)?
        switch listen {
        case .inherited(let fd):
            channel = try bootstrap.withBoundSocket(fd).wait()
        case .path(let path, _):
            let previous = umask(0o177)
            defer { umask(previous) }
            channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).wait()
            chmod(path, 0o600)
            var info = stat()
            if stat(path, &info) == 0 { ownedSocket = (path, info.st_ino) }
        }
        serverChannel.withLock { $0 = channel }

        activity.started()

        // SIGTERM: stop accepting, let requests in flight finish (up to the limit), then exit.
        let awaited = signals
        signalThread.submit { _ in
            var set = awaited
            var caught: Int32 = 0
            sigwait(&set, &caught)
            channel.close(promise: nil)
            activity.drain()
            channel.eventLoop.scheduleTask(in: .seconds(Service.drainLimitSeconds)) { exit.succeed() }
        }

        try exit.futureResult.wait()
        channel.close(promise: nil)
        if let owned = ownedSocket {
            var info = stat()
            if stat(owned.path, &info) == 0 && info.st_ino == owned.inode {
                unlink(owned.path)
            }
        }
    }
}

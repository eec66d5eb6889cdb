import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Threads for handlers that block (SQLite, files), started on first use: a `/_ping` after
/// socket activation never waits for them to be created.
final class BlockingPool: Sendable {
    private let threads: Int
    private let pool = NIOLockedValueBox<NIOThreadPool?>(nil)

    init(threads: Int) {
        self.threads = threads
    }

    /// Runs `body` on a pool thread; the future completes on `eventLoop`.
    func run<T: Sendable>(on eventLoop: any EventLoop, _ body: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        startedPool().runIfActive(eventLoop: eventLoop, body)
    }

    private func startedPool() -> NIOThreadPool {
        pool.withLockedValue { pool in
            if let pool { return pool }
            let started = NIOThreadPool(numberOfThreads: threads)
            started.start()
            pool = started
            return started
        }
    }

    /// Runs `body` on a pool thread, for work nobody waits for; `body(false)` when the pool is
    /// shutting down (then it should only give up).
    func submit(_ body: @escaping @Sendable (_ active: Bool) -> Void) {
        startedPool().submit { state in body(state == .active) }
    }

    func shutdown() {
        let pool = self.pool.withLockedValue { pool in
            defer { pool = nil }
            return pool
        }
        try? pool?.syncShutdownGracefully()
    }
}

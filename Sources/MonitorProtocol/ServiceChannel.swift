#if canImport(Glibc)
import Glibc
#endif

/// The service's end of the sync socket: it sends on `ToMonitor` and receives on `ToService`.
public struct ServiceChannel: Sendable {
    public let fd: Int32
    public let toMonitor: ToMonitor.Sender
    public let fromMonitor: ToService.Receiver

    public init(fd: Int32) {
        self.fd = fd
        toMonitor = ToMonitor.Sender(fd: fd)
        fromMonitor = ToService.Receiver(fd: fd)
    }

    /// Hands a warm monitor its container.
    public func sendArguments(_ arguments: WarmArguments) throws(SyncError) {
        try toMonitor.sendArguments(arguments)
    }

    /// Waits for `created <pid>`; throws the monitor's failure.
    public func waitCreated(timeout: Int32) throws(SyncError) -> Int32 {
        try fromMonitor.waitCreated(timeout: timeout)
    }

    /// Says `start` and waits for `started`; throws the monitor's failure.
    public func start(timeout: Int32) throws(SyncError) {
        try toMonitor.start()
        try fromMonitor.waitStarted(timeout: timeout)
    }

    /// Gives the monitor up: no more messages (it kills the container it created and removes
    /// what it made), then waits until it closes its end, or `timeout` milliseconds pass without
    /// a word from it.
    public func abandon(timeout: Int32) {
        toMonitor.end()
        fromMonitor.waitForEnd(timeout: timeout)
    }

    public func close() { _ = Glibc.close(fd) }
}

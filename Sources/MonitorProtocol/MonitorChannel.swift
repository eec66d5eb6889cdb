/// The monitor's end of the sync socket: it receives on `ToMonitor` and sends on `ToService`.
/// A monitor that skiff-relay execs back has none (`fd` -1: every send is dropped, every wait
/// ends at once with `SyncError.closed`).
public struct MonitorChannel: Sendable {
    public let fd: Int32
    public let fromService: ToMonitor.Receiver
    public let toService: ToService.Sender

    public init(fd: Int32) {
        self.fd = fd
        fromService = ToMonitor.Receiver(fd: fd)
        toService = ToService.Sender(fd: fd)
    }

    /// A warm monitor's first message: its container's arguments.
    public func waitForArguments() throws(SyncError) -> WarmArguments { try fromService.waitForArguments() }

    /// Waits for `start`.
    public func waitForStart() throws(SyncError) { try fromService.waitForStart() }

    /// The container is created; its process waits for `start`.
    public func created(pid: Int32) { toService.created(pid: pid) }

    /// The program runs.
    public func started() { toService.started() }

    /// Creating or starting failed.
    public func failed(_ failure: StartFailure) { toService.failed(failure) }
}

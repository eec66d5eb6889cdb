#if canImport(Glibc)
import Glibc
#endif

/// The channel from the service to the monitor: `ServiceMessage`s, in the order of
/// docs/containers.md (a warm monitor's arguments, then `start`). The service holds the
/// `Sender`, the monitor the `Receiver`; a message out of that order is `SyncError.unexpected`.
public enum ToMonitor {
    public struct Sender: Sendable {
        let datagrams: Datagrams

        public init(fd: Int32) { datagrams = Datagrams(fd: fd) }

        /// Hands a warm monitor its container.
        public func sendArguments(_ arguments: WarmArguments) throws(SyncError) {
            try datagrams.send(ServiceMessage.arguments(arguments).bytes)
        }

        /// The created container may run its program.
        public func start() throws(SyncError) {
            try datagrams.send(ServiceMessage.start.bytes)
        }

        /// No more messages: a monitor that waits for `start` gives its container up.
        public func end() {
            _ = shutdown(datagrams.fd, Int32(SHUT_WR))
        }
    }

    public struct Receiver: Sendable {
        let datagrams: Datagrams

        public init(fd: Int32) { datagrams = Datagrams(fd: fd) }

        /// A warm monitor's first message: its container's arguments.
        public func waitForArguments() throws(SyncError) -> WarmArguments {
            switch try datagrams.receive(timeout: -1, expected: "args", ServiceMessage.init(bytes:)) {
            case .arguments(let arguments): return arguments
            case .start: throw SyncError.unexpected(expected: "args", received: "start")
            }
        }

        /// Waits for `start`.
        public func waitForStart() throws(SyncError) {
            switch try datagrams.receive(timeout: -1, expected: "start", ServiceMessage.init(bytes:)) {
            case .start: return
            case .arguments: throw SyncError.unexpected(expected: "start", received: "args")
            }
        }
    }
}

/// The channel from the monitor to the service: `MonitorMessage`s, in the order of
/// docs/containers.md (`created <pid>`, then `started`; a failure instead of either). The monitor
/// holds the `Sender`, the service the `Receiver`; a message out of that order is
/// `SyncError.unexpected`, a failure is thrown as `SyncError.failed`.
public enum ToService {
    public struct Sender: Sendable {
        let datagrams: Datagrams

        /// `fd` -1: no service listens (a monitor that skiff-relay execs back): nothing is sent.
        public init(fd: Int32) { datagrams = Datagrams(fd: fd) }

        /// The container is created; its process waits for `start`.
        public func created(pid: Int32) { send(.created(pid: pid)) }

        /// The program runs.
        public func started() { send(.started) }

        /// Creating or starting failed.
        public func failed(_ failure: StartFailure) { send(.failed(failure)) }

        /// The service may have gone: nothing to do about a send that fails (the monitor goes on
        /// with what it was doing, or gives up when `start` does not come).
        private func send(_ message: MonitorMessage) {
            guard datagrams.fd >= 0 else { return }
            try? datagrams.send(message.bytes)
        }
    }

    public struct Receiver: Sendable {
        let datagrams: Datagrams

        public init(fd: Int32) { datagrams = Datagrams(fd: fd) }

        /// Waits for `created <pid>`; throws the monitor's failure.
        public func waitCreated(timeout: Int32) throws(SyncError) -> Int32 {
            switch try datagrams.receive(timeout: timeout, expected: "created", MonitorMessage.init(bytes:)) {
            case .created(let pid): return pid
            case .failed(let failure): throw SyncError.failed(failure)
            case .started: throw SyncError.unexpected(expected: "created", received: "started")
            }
        }

        /// Waits for `started`; throws the monitor's failure.
        public func waitStarted(timeout: Int32) throws(SyncError) {
            switch try datagrams.receive(timeout: timeout, expected: "started", MonitorMessage.init(bytes:)) {
            case .started: return
            case .failed(let failure): throw SyncError.failed(failure)
            case .created: throw SyncError.unexpected(expected: "started", received: "created")
            }
        }

        /// Waits until the monitor closes its end, or `timeout` milliseconds pass without a
        /// datagram; what comes meanwhile is dropped.
        public func waitForEnd(timeout: Int32) {
            while (try? datagrams.receive(timeout: timeout)) != nil {}
        }
    }
}

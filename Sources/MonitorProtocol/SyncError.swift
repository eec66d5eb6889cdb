#if canImport(Glibc)
import Glibc
#endif

/// What went wrong on the sync socket.
public enum SyncError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The other side reported a failure (the monitor: creating or starting failed).
    case failed(StartFailure)
    /// The other side closed its end (it exited, or gave up).
    case closed
    /// Nothing came in time.
    case timedOut
    /// A message that is not the one this step waits for (out of order, or unknown).
    case unexpected(expected: String, received: String)
    /// send or recv failed.
    case system(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .failed(let failure): return failure.message
        case .closed: return "the other end of the sync socket closed"
        case .timedOut: return "no answer on the sync socket"
        case .unexpected(let expected, let received): return "sync socket: expected \(expected), received \(received)"
        case .system(let operation, let errno): return "sync socket: \(operation): \(String(cString: strerror(errno)))"
        }
    }
}

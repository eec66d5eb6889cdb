/// Docker's restart policies, decided as moby's restart manager does.
public enum RestartPolicy: Sendable, Equatable {
    case no
    case always
    case unlessStopped
    /// `on-failure[:N]`; 0: no limit.
    case onFailure(maximumRetries: Int)

    /// `no`, `always`, `unless-stopped`, `on-failure`, `on-failure:N` (N >= 0); nil otherwise.
    public init?(parsing text: String) {
        switch text {
        case "", "no": self = .no
        case "always": self = .always
        case "unless-stopped": self = .unlessStopped
        case "on-failure": self = .onFailure(maximumRetries: 0)
        default:
            guard text.hasPrefix("on-failure:"), let count = Int(text.dropFirst("on-failure:".count)), count >= 0 else {
                return nil
            }
            self = .onFailure(maximumRetries: count)
        }
    }

    /// Whether a process that ended with `exitCode` is started again. `restarts`: how many
    /// times this monitor restarted it so far; `stopRequested`: the API stopped or killed it
    /// (no policy restarts that).
    public func shouldRestart(exitCode: Int32, restarts: Int, stopRequested: Bool) -> Bool {
        guard !stopRequested else { return false }
        switch self {
        case .no: return false
        case .always, .unlessStopped: return true
        case .onFailure(let maximum):
            return exitCode != 0 && (maximum == 0 || restarts < maximum)
        }
    }
}

/// The delay before a restart: 100 ms, doubling each time up to a minute, back to 100 ms when
/// the process had run for 10 s or more (moby's restart manager).
public struct RestartBackoff: Sendable, Equatable {
    public static let initial: UInt64 = 100_000_000
    public static let maximum: UInt64 = 60_000_000_000
    public static let resetAfter: UInt64 = 10_000_000_000

    /// Nanoseconds; 0 before the first restart.
    public private(set) var delay: UInt64 = 0

    public init() {}

    /// The delay before the next restart of a process that ran `ranFor` nanoseconds.
    public mutating func next(ranFor: UInt64) -> UInt64 {
        if ranFor >= RestartBackoff.resetAfter { delay = 0 }
        if delay == 0 {
            delay = RestartBackoff.initial
        } else if delay < RestartBackoff.maximum {
            delay *= 2
        }
        delay = min(delay, RestartBackoff.maximum)
        return delay
    }
}

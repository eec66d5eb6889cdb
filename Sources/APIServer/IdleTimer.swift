/// Decides when the service exits for lack of work. No I/O and no clock: callers pass `now`
/// (nanoseconds, monotonic) and carry out the returned action.
///
/// Activity is a connection from its accept until its first response, and every request from
/// its head until its response has been written (streams count until they end). An idle
/// keep-alive connection is not activity.
public struct IdleTimer: Sendable, Equatable {
    public enum Action: Equatable, Sendable {
        case none
        /// Call `check(now:)` at this time.
        case scheduleCheck(at: UInt64)
        /// Stop accepting and exit.
        case exit
    }

    /// Nanoseconds; 0 means never exit for idleness.
    public let timeout: UInt64
    public private(set) var active = 0
    public private(set) var idleSince: UInt64?
    public private(set) var isDraining = false
    /// A check is already scheduled: do not schedule another (one per timeout, not per request).
    public private(set) var isCheckScheduled = false

    public init(timeout: UInt64) {
        self.timeout = timeout
    }

    /// The service has started listening.
    public mutating func started(now: UInt64) -> Action {
        idleSince = now
        return schedule(at: now + timeout)
    }

    /// A connection was accepted or a request began.
    public mutating func begin() -> Action {
        active += 1
        idleSince = nil
        return .none
    }

    /// A connection's first request or a request has ended.
    public mutating func end(now: UInt64) -> Action {
        precondition(active > 0, "IdleTimer.end without begin")
        active -= 1
        guard active == 0 else { return .none }
        idleSince = now
        if isDraining { return .exit }
        return schedule(at: now + timeout)
    }

    /// A scheduled check came due. Checks that went stale (work arrived since) do nothing.
    public mutating func check(now: UInt64) -> Action {
        isCheckScheduled = false
        guard active == 0, let since = idleSince else { return .none }
        if isDraining { return .exit }
        guard timeout > 0 else { return .none }
        return now >= since + timeout ? .exit : schedule(at: since + timeout)
    }

    private mutating func schedule(at deadline: UInt64) -> Action {
        guard timeout > 0, !isCheckScheduled else { return .none }
        isCheckScheduled = true
        return .scheduleCheck(at: deadline)
    }

    /// SIGTERM: finish what is in flight, then exit.
    public mutating func drain() -> Action {
        isDraining = true
        return active == 0 ? .exit : .none
    }
}

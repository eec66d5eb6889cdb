/// Decides when the service gives back memory and when it exits for lack of work. No I/O and no
/// clock: callers pass `now` (nanoseconds, monotonic) and carry out the returned action.
///
/// Activity is a connection from its accept until its first response, and every request from
/// its head until its response has been written (streams count until they end). An idle
/// keep-alive connection is not activity.
///
/// Once idle for `trimDelay` the service releases the pages start-up and the last requests
/// faulted in (`MemoryTrim`), once per idle period; once idle for `timeout` it exits.
public struct IdleTimer: Sendable, Equatable {
    public enum Action: Equatable, Sendable {
        case none
        /// Call `check(now:)` at this time.
        case scheduleCheck(at: UInt64)
        /// Release idle memory, then (if set) call `check(now:)` at this time.
        case releaseMemory(thenCheckAt: UInt64?)
        /// Stop accepting and exit.
        case exit
    }

    /// Nanoseconds; 0 means never exit for idleness.
    public let timeout: UInt64
    /// Nanoseconds of idleness before memory is released.
    public let trimDelay: UInt64
    public private(set) var active = 0
    public private(set) var idleSince: UInt64?
    public private(set) var isDraining = false
    /// Memory was released and nothing has run since.
    public private(set) var isTrimmed = false
    /// The earliest check already scheduled: no second one is scheduled for a later time (one
    /// check per period, not one per request).
    public private(set) var scheduledCheck: UInt64?

    public init(timeout: UInt64, trimDelay: UInt64 = 1_000_000_000) {
        self.timeout = timeout
        self.trimDelay = trimDelay
    }

    /// The service has started listening.
    public mutating func started(now: UInt64) -> Action {
        idleSince = now
        return schedule(nextDeadline(since: now), now: now)
    }

    /// A connection was accepted or a request began.
    public mutating func begin() -> Action {
        active += 1
        idleSince = nil
        isTrimmed = false
        return .none
    }

    /// A connection's first request or a request has ended.
    public mutating func end(now: UInt64) -> Action {
        precondition(active > 0, "IdleTimer.end without begin")
        active -= 1
        guard active == 0 else { return .none }
        idleSince = now
        if isDraining { return .exit }
        return schedule(nextDeadline(since: now), now: now)
    }

    /// A scheduled check came due. Checks that went stale (work arrived since) do nothing.
    public mutating func check(now: UInt64) -> Action {
        if let pending = scheduledCheck, now >= pending { scheduledCheck = nil }
        guard active == 0, let since = idleSince else { return .none }
        if isDraining { return .exit }
        if timeout > 0 && now >= since + timeout { return .exit }
        if !isTrimmed && now >= since + trimDelay {
            isTrimmed = true
            guard timeout > 0 else { return .releaseMemory(thenCheckAt: nil) }
            switch schedule(since + timeout, now: now) {
            case .scheduleCheck(let at): return .releaseMemory(thenCheckAt: at)
            default: return .releaseMemory(thenCheckAt: nil)
            }
        }
        return schedule(nextDeadline(since: since), now: now)
    }

    /// SIGTERM: finish what is in flight, then exit.
    public mutating func drain() -> Action {
        isDraining = true
        return active == 0 ? .exit : .none
    }

    /// The next moment something is due for an idle period that began at `since`.
    private func nextDeadline(since: UInt64) -> UInt64? {
        var deadline: UInt64?
        if !isTrimmed { deadline = since + trimDelay }
        if timeout > 0 { deadline = min(deadline ?? .max, since + timeout) }
        return deadline
    }

    private mutating func schedule(_ deadline: UInt64?, now: UInt64) -> Action {
        guard let deadline else { return .none }
        if let pending = scheduledCheck, pending > now, pending <= deadline { return .none }
        scheduledCheck = deadline
        return .scheduleCheck(at: deadline)
    }
}

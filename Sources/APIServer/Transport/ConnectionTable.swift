import NIOCore
import Synchronization

/// Every open API connection and what it waits for, for the limits of `ConnectionLimits`: a
/// connection waiting for a request head (`header`) or for the next request (`idle`) past its
/// timeout is told to expire; at the cap, a new connection makes the one that has waited
/// longest be evicted. Busy connections (a request in flight, a stream, a hijacked attach,
/// logs -f, events, wait) are never timed out nor evicted.
///
/// Deadlines are checked by sweeps scheduled on one event loop at the earliest deadline (no
/// timer per connection, none at all while no connection waits). The decision is the
/// connection's own (`ConnectionGuard`, on its event loop), from its own state: a sweep only
/// sends it an event, so a request that began meanwhile is never cut.
final class ConnectionTable: Sendable {
    enum Phase: Equatable, Sendable {
        /// Accepted, or the first byte of a later request came: the head must arrive.
        case header(since: UInt64)
        /// A response ended on a kept-alive connection: the next request may come.
        case idle(since: UInt64)
        /// A request is in flight.
        case busy
        /// A response that waits for things to happen: a container wait, logs -f, events, a
        /// hijacked attach or exec. Busy, but closed at once at shutdown.
        case stream
    }

    private struct Entry {
        var channel: any Channel
        var phase: Phase
        /// Told to go to make room; not chosen again.
        var evicting = false
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        /// The earliest sweep scheduled.
        var sweepAt: UInt64?
        var shuttingDown = false
    }

    let limits: ConnectionLimits
    let maxConnections: Int
    private let loop: any EventLoop
    private let state = Mutex(State())

    /// Sweeps are rounded up to this (nanoseconds), so connections that came together expire together.
    private static let granularity: UInt64 = 100_000_000

    init(limits: ConnectionLimits, loop: any EventLoop, maxConnections: Int) {
        self.limits = limits
        self.maxConnections = maxConnections
        self.loop = loop
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    var count: Int { state.withLock { $0.entries.count } }

    /// The deadline of `phase`, nil when it has none.
    func deadline(_ phase: Phase) -> UInt64? {
        switch phase {
        case .header(let since): limits.headerNanoseconds.map { since + $0 }
        case .idle(let since): limits.keepAliveNanoseconds.map { since + $0 }
        case .busy, .stream: nil
        }
    }

    /// SIGTERM: the connections that wait for a request and the streams are closed now (a
    /// stream would hold the service up to its drain limit); those with a request in flight
    /// are closed once it has been answered.
    func shutdown() {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return state.entries.values.map(\.channel)
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.Shutdown())
        }
    }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// A connection that has waited less than this for a request is not evicted: a client that
    /// has just connected is about to send its request (nanoseconds).
    static let evictionGrace: UInt64 = 1_000_000_000

    /// A new connection: false when the cap is reached and every connection is busy or has
    /// waited less than `evictionGrace` (it is to be refused). At the cap, the connection that
    /// has waited longest for a request is evicted.
    func admit(_ channel: any Channel, now: UInt64) -> Bool {
        var victim: (any Channel)?
        let admitted = state.withLock { state -> Bool in
            if state.entries.count >= maxConnections {
                var oldest: (key: ObjectIdentifier, since: UInt64)?
                for (key, entry) in state.entries where !entry.evicting {
                    switch entry.phase {
                    case .header(let since), .idle(let since):
                        if oldest == nil || since < oldest!.since { oldest = (key, since) }
                    case .busy, .stream:
                        break
                    }
                }
                guard let oldest, oldest.since + Self.evictionGrace <= now else { return false }
                state.entries[oldest.key]?.evicting = true
                victim = state.entries[oldest.key]?.channel
            }
            state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, phase: .header(since: now))
            return true
        }
        victim?.pipeline.fireUserInboundEventTriggered(ConnectionGuard.Evict())
        if admitted, let due = deadline(.header(since: now)) { scheduleSweep(due) }
        return admitted
    }

    /// The connection's phase changed.
    func update(_ key: ObjectIdentifier, _ phase: Phase) {
        let due = deadline(phase)
        let needsSweep = state.withLock { state -> Bool in
            guard state.entries[key] != nil else { return false }
            state.entries[key]!.phase = phase
            if phase == .busy || phase == .stream { state.entries[key]!.evicting = false }
            return due.map { Self.claimSweep(&state, at: $0) } ?? false
        }
        if needsSweep, let due { schedule(at: Self.rounded(due)) }
    }

    func remove(_ key: ObjectIdentifier) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    private static func rounded(_ time: UInt64) -> UInt64 {
        (time + granularity - 1) / granularity * granularity
    }

    /// Whether a sweep must be scheduled for `due` (none is due at or before it); records it.
    private static func claimSweep(_ state: inout State, at due: UInt64) -> Bool {
        let at = rounded(due)
        if let pending = state.sweepAt, pending <= at { return false }
        state.sweepAt = at
        return true
    }

    private func scheduleSweep(_ due: UInt64) {
        if state.withLock({ Self.claimSweep(&$0, at: due) }) { schedule(at: Self.rounded(due)) }
    }

    private func schedule(at time: UInt64) {
        loop.scheduleTask(deadline: .uptimeNanoseconds(time)) { self.sweep() }
    }

    /// Tells every connection past its deadline so, and schedules the next sweep.
    private func sweep() {
        let now = Self.now()
        var expired: [any Channel] = []
        var next: UInt64?
        state.withLock { state in
            if let pending = state.sweepAt, pending <= now { state.sweepAt = nil }
            for entry in state.entries.values {
                guard let due = deadline(entry.phase) else { continue }
                if due <= now {
                    expired.append(entry.channel)
                } else {
                    next = min(next ?? .max, due)
                }
            }
        }
        for channel in expired {
            channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.Expire())
        }
        if let next { scheduleSweep(next) }
    }
}

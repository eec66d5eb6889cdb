/// When an exec instance goes, as moby's exec store forgets them (daemon/exec.go,
/// `execCommandGC`): every 5 minutes an exec that no longer runs in its container is marked
/// `CanRemove`, and the next pass removes it; an exec whose container stops goes with it (moby
/// unregisters a container's execs when it stops). Ticks are not needed here: an ended exec
/// reads `CanRemove` from 5 minutes after its end and is gone from 10 minutes after. No I/O:
/// the clock is given.
struct ExecExpiry: Sendable, Equatable {
    /// moby's GC period.
    static let period: Int64 = 5 * 60 * 1_000_000_000

    var ended: Bool
    /// Unix nanoseconds the exec ended (0: it did not).
    var finished: Int64

    /// `CanRemove` as inspect shows it.
    func canRemove(now: Int64) -> Bool {
        ended && now - finished >= ExecExpiry.period
    }

    /// Gone: lookups answer `No such exec instance`.
    func isExpired(now: Int64) -> Bool {
        ended && now - finished >= 2 * ExecExpiry.period
    }
}

import Testing
@testable import APIServer

/// The idle timer is a pure state machine: time is passed in, actions come out.
struct IdleTimerTests {
    let second: UInt64 = 1_000_000_000

    @Test func exitsAfterTheTimeoutWithNoActivity() {
        var timer = IdleTimer(timeout: 5 * second)
        #expect(timer.started(now: 0) == .scheduleCheck(at: 5 * second))
        #expect(timer.check(now: 5 * second) == .exit)
    }

    @Test func activityPostponesTheExit() {
        var timer = IdleTimer(timeout: 5 * second)
        _ = timer.started(now: 0)
        #expect(timer.begin() == .none)
        // The check scheduled at start comes due while a request is running: nothing happens.
        #expect(timer.check(now: 5 * second) == .none)
        #expect(timer.end(now: 6 * second) == .scheduleCheck(at: 11 * second))
        #expect(timer.check(now: 11 * second - 1) == .scheduleCheck(at: 11 * second))
        #expect(timer.check(now: 11 * second) == .exit)
    }

    @Test func oneScheduledCheckServesManyRequests() {
        var timer = IdleTimer(timeout: 5 * second)
        #expect(timer.started(now: 0) == .scheduleCheck(at: 5 * second))
        for n in 1...1000 {
            _ = timer.begin()
            #expect(timer.end(now: UInt64(n) * 1_000_000) == .none)
        }
        // The pending check finds the service idle since the last request and waits the rest.
        #expect(timer.check(now: 5 * second) == .scheduleCheck(at: 5 * second + 1_000_000_000))
        #expect(timer.check(now: 6 * second) == .exit)
    }

    @Test func overlappingRequestsCountUntilTheLastEnds() {
        var timer = IdleTimer(timeout: second)
        _ = timer.started(now: 0)
        _ = timer.check(now: second / 2)    // stale check while idle: reschedules
        _ = timer.begin()
        _ = timer.begin()
        #expect(timer.end(now: 2 * second) == .none)
        #expect(timer.active == 1)
        #expect(timer.check(now: 10 * second) == .none)
        #expect(timer.end(now: 10 * second) == .scheduleCheck(at: 11 * second))
    }

    @Test func zeroTimeoutNeverExitsForIdleness() {
        var timer = IdleTimer(timeout: 0)
        #expect(timer.started(now: 0) == .none)
        _ = timer.begin()
        #expect(timer.end(now: 100 * second) == .none)
        #expect(timer.check(now: 1_000 * second) == .none)
    }

    @Test func drainExitsWhenTheLastRequestEnds() {
        var timer = IdleTimer(timeout: 0)
        _ = timer.started(now: 0)
        _ = timer.begin()
        #expect(timer.drain() == .none)
        #expect(timer.end(now: second) == .exit)

        var idle = IdleTimer(timeout: 5 * second)
        _ = idle.started(now: 0)
        #expect(idle.drain() == .exit)
    }
}

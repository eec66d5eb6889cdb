import Testing
@testable import APIServer

/// The idle timer is a pure state machine: time is passed in, actions come out.
struct IdleTimerTests {
    let second: UInt64 = 1_000_000_000

    @Test func releasesMemoryThenExitsAfterTheTimeout() {
        var timer = IdleTimer(timeout: 5 * second, trimDelay: second)
        #expect(timer.started(now: 0) == .scheduleCheck(at: second))
        #expect(timer.check(now: second) == .releaseMemory(thenCheckAt: 5 * second))
        #expect(timer.isTrimmed)
        #expect(timer.check(now: 5 * second) == .exit)
    }

    @Test func activityPostponesTheExit() {
        var timer = IdleTimer(timeout: 5 * second, trimDelay: second)
        _ = timer.started(now: 0)
        #expect(timer.begin() == .none)
        // The check scheduled at start comes due while a request is running: nothing happens.
        #expect(timer.check(now: second) == .none)
        #expect(timer.end(now: 6 * second) == .scheduleCheck(at: 7 * second))
        #expect(timer.check(now: 7 * second) == .releaseMemory(thenCheckAt: 11 * second))
        #expect(timer.check(now: 11 * second - 1) == .none)    // the check at 11 s is already scheduled
        #expect(timer.check(now: 11 * second) == .exit)
    }

    @Test func oneScheduledCheckServesManyRequests() {
        var timer = IdleTimer(timeout: 5 * second, trimDelay: second)
        #expect(timer.started(now: 0) == .scheduleCheck(at: second))
        for n in 1...1000 {
            _ = timer.begin()
            #expect(timer.end(now: UInt64(n) * 100_000) == .none)   // the pending check is earlier
        }
        // The pending check finds the service idle since the last request and waits the rest.
        let last: UInt64 = 1000 * 100_000
        #expect(timer.check(now: second) == .scheduleCheck(at: last + second))
        #expect(timer.check(now: last + second) == .releaseMemory(thenCheckAt: last + 5 * second))
        #expect(timer.check(now: last + 5 * second) == .exit)
    }

    @Test func memoryIsReleasedOncePerIdlePeriod() {
        var timer = IdleTimer(timeout: 0, trimDelay: second)
        #expect(timer.started(now: 0) == .scheduleCheck(at: second))
        #expect(timer.check(now: second) == .releaseMemory(thenCheckAt: nil))
        #expect(timer.check(now: 3 * second) == .none)      // still idle, already released
        _ = timer.begin()
        #expect(!timer.isTrimmed)
        #expect(timer.end(now: 4 * second) == .scheduleCheck(at: 5 * second))
        #expect(timer.check(now: 5 * second) == .releaseMemory(thenCheckAt: nil))
    }

    @Test func overlappingRequestsCountUntilTheLastEnds() {
        var timer = IdleTimer(timeout: second, trimDelay: 10 * second)
        _ = timer.started(now: 0)
        _ = timer.begin()
        _ = timer.begin()
        #expect(timer.end(now: 2 * second) == .none)
        #expect(timer.active == 1)
        #expect(timer.check(now: 10 * second) == .none)
        #expect(timer.end(now: 10 * second) == .scheduleCheck(at: 11 * second))
        #expect(timer.check(now: 11 * second) == .exit)
    }

    @Test func zeroTimeoutNeverExitsForIdleness() {
        var timer = IdleTimer(timeout: 0, trimDelay: second)
        _ = timer.started(now: 0)
        _ = timer.check(now: second)
        _ = timer.begin()
        #expect(timer.end(now: 100 * second) == .scheduleCheck(at: 101 * second))
        #expect(timer.check(now: 101 * second) == .releaseMemory(thenCheckAt: nil))
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

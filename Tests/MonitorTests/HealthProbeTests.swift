import Monitor
import MonitorProtocol
import Store
import Testing

@Suite struct HealthProbeTests {
    static func result(_ code: Int) -> HealthResult {
        HealthResult(start: "s", end: "e", exitCode: code, output: "")
    }

    @Test func successMakesHealthyAndResetsTheStreak() {
        let health = HealthProbe.apply(Self.result(0), to: HealthRecord(status: "unhealthy", failingStreak: 4),
                                       retries: 3, inStartPeriod: false)
        #expect(health.status == "healthy" && health.failingStreak == 0 && health.log.count == 1)
    }

    @Test func failuresCountUpToTheRetries() {
        var health = HealthRecord(status: "starting")
        health = HealthProbe.apply(Self.result(1), to: health, retries: 2, inStartPeriod: false)
        #expect(health.status == "starting" && health.failingStreak == 1)
        health = HealthProbe.apply(Self.result(-1), to: health, retries: 2, inStartPeriod: false)
        #expect(health.status == "unhealthy" && health.failingStreak == 2)
    }

    @Test func failuresInTheStartPeriodDoNotCountWhileStarting() {
        let starting = HealthProbe.apply(Self.result(1), to: HealthRecord(status: "starting"), retries: 1,
                                         inStartPeriod: true)
        #expect(starting.status == "starting" && starting.failingStreak == 0 && starting.log.count == 1)
        // Once healthy, the start period no longer shields it (moby).
        let healthy = HealthProbe.apply(Self.result(1), to: HealthRecord(status: "healthy"), retries: 1,
                                        inStartPeriod: true)
        #expect(healthy.status == "unhealthy" && healthy.failingStreak == 1)
    }

    @Test func theLogKeepsFive() {
        var health = HealthRecord(status: "starting")
        for code in 0..<8 { health = HealthProbe.apply(Self.result(code), to: health, retries: 3, inStartPeriod: false) }
        #expect(health.log.map(\.exitCode) == [3, 4, 5, 6, 7])
    }

    @Test(arguments: [
        (UInt64(1_000_000_000), "1s"), (30_000_000_000, "30s"), (90_000_000_000, "1m30s"),
        (7_200_000_000_000, "2h0m0s"), (500_000_000, "500ms"), (1_500_000_000, "1.5s"), (1_000_000, "1ms"),
        (1_500, "1.5µs"), (999, "999ns"), (61_250_000_000, "1m1.25s"),
    ])
    func goDurations(nanos: UInt64, text: String) {
        #expect(HealthProbe.goDuration(nanos) == text)
    }
}

@Suite struct HealthScheduleTests {
    @Test func defaultsForZeroAndRoundTrip() throws {
        let schedule = HealthSchedule(interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0)
        #expect(schedule.argument == "30000000000,30000000000,0,5000000000,3")
        #expect(HealthSchedule(argument: schedule.argument) == schedule)
        let given = HealthSchedule(interval: 1_000_000_000, timeout: 2, startPeriod: 3, startInterval: 4, retries: 5)
        #expect(given.argument == "1000000000,2,3,4,5")
        let options = try MonitorOptions(parsing: MonitorOptionsTests.base + ["--health", given.argument])
        #expect(options.health == given)
        #expect(try MonitorOptions(parsing: options.arguments) == options)
    }

    @Test(arguments: ["", "1,2,3,4", "0,1,0,1,1", "1,0,0,1,1", "1,1,0,1,0", "a,1,0,1,1", "1,1,0,1,1,1"])
    func refusesBadArguments(text: String) {
        #expect(HealthSchedule(argument: text) == nil)
        #expect(throws: MonitorError("skiff-monitor: --health: not INTERVAL,TIMEOUT,START-PERIOD,START-INTERVAL,RETRIES: '\(text)'")) {
            try MonitorOptions(parsing: MonitorOptionsTests.base + ["--health", text])
        }
    }

    @Test func commands() {
        #expect(HealthSchedule.command(test: ["CMD", "curl", "-f", "x"], shell: []) == ["curl", "-f", "x"])
        #expect(HealthSchedule.command(test: ["CMD-SHELL", "exit 1"], shell: []) == ["/bin/sh", "-c", "exit 1"])
        #expect(HealthSchedule.command(test: ["CMD-SHELL", "exit 1"], shell: ["/bin/ash", "-ec"]) == ["/bin/ash", "-ec", "exit 1"])
        #expect(HealthSchedule.command(test: ["NONE"], shell: []) == nil)
        #expect(HealthSchedule.command(test: [], shell: []) == nil)
        #expect(HealthSchedule.command(test: ["CMD"], shell: []) == nil)
        #expect(HealthSchedule.command(test: ["WHAT", "x"], shell: []) == nil)
    }
}

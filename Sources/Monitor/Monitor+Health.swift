import CRelay
import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The container's healthcheck, monitor side (docs/healthchecks.md): the schedule runs in the
/// relay loop (skiff-relay's, or this process's when it relays a run itself), each probe is
/// `skiff-monitor --health-probe` (`HealthProbe`); the monitor sets the status at each start
/// (`starting`, streak 0, as moby's initHealthMonitor) and exit (`unhealthy`, as moby's
/// CloseMonitorChannel).
extension Monitor {
    /// skiff-relay's `--health INTERVAL,START-PERIOD,START-INTERVAL,STARTED` for a run started at
    /// `startedAt` (CLOCK_MONOTONIC); empty without a healthcheck.
    func healthRelayArguments(startedAt: UInt64) -> [String] {
        guard let health = options.health else { return [] }
        return ["--health", "\(health.interval),\(health.startPeriod),\(health.startInterval),\(startedAt)"]
    }

    /// A run this process relays itself: the same schedule in its loop. Returns the probe's
    /// command line (C strings, NULL-terminated) to free once the run is over (nil: no healthcheck).
    func startHealthSchedule(startedAt: UInt64) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard let health = options.health, let monitor = SelfExecutable.path else { return nil }
        var back = options
        back.handBack = nil
        back.runState = RunState(startedAt: startedAt, restarts: restarts, backoffDelay: backoff.delay)
        let words = [monitor, "--health-probe"] + back.arguments
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: words.count + 1)
        for (index, word) in words.enumerated() { argv[index] = strdup(word) }
        argv[words.count] = nil
        relay_health_configure(loop, health.interval, health.startPeriod, health.startInterval, startedAt, argv)
        return argv
    }

    /// The run is over: the probe's command line goes.
    func endHealthSchedule(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        health_stop(loop)
        guard let argv else { return }
        var index = 0
        while let word = argv[index] {
            free(word)
            index += 1
        }
        argv.deallocate()
    }

    /// A run started: `starting`, the failing streak reset, the log kept.
    func recordHealthStarting() {
        guard options.health != nil else { return }
        _ = withStore { store in
            try store.updateHealth(options.id) { current, _ in
                var health = current ?? HealthRecord(status: "starting")
                health.status = "starting"
                health.failingStreak = 0
                return health
            }
        }
    }

    /// A run ended: `unhealthy` (moby's status once the health monitor stops).
    func recordHealthStopped() {
        guard options.health != nil else { return }
        _ = withStore { store in
            try store.updateHealth(options.id) { current, _ in
                guard var health = current else { return nil }
                health.status = "unhealthy"
                return health
            }
        }
    }
}

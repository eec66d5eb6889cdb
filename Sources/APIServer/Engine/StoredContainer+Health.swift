import MonitorProtocol
import Platform

/// The stored `Config.Healthcheck` as the monitor runs it (docs/healthchecks.md).
extension StoredContainer {
    /// The monitor's `--health` schedule: nil when the container has no healthcheck that runs
    /// (none, `NONE`, or no command).
    var healthSchedule: HealthSchedule? {
        guard let health = healthcheck, HealthSchedule.runs(test: strings(health["Test"])) else { return nil }
        return HealthSchedule(interval: int(health["Interval"]), timeout: int(health["Timeout"]),
                              startPeriod: int(health["StartPeriod"]), startInterval: int(health["StartInterval"]),
                              retries: Int(int(health["Retries"])))
    }
}

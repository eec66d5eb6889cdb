/// A container's healthcheck as its monitor runs it (docs/healthchecks.md): the service resolves
/// Docker's `Config.Healthcheck` (moby's defaults for what is 0) and passes it as the monitor's
/// `--health INTERVAL,TIMEOUT,START-PERIOD,START-INTERVAL,RETRIES` (nanoseconds, and a count);
/// the monitor gives skiff-relay the schedule, and each probe the timeout and the retries. The
/// probe's command comes from the stored config.
public struct HealthSchedule: Sendable, Equatable {
    public var interval: UInt64
    public var timeout: UInt64
    public var startPeriod: UInt64
    public var startInterval: UInt64
    public var retries: Int

    /// moby's defaults (daemon/health.go).
    public static let defaultInterval: UInt64 = 30_000_000_000
    public static let defaultTimeout: UInt64 = 30_000_000_000
    public static let defaultStartInterval: UInt64 = 5_000_000_000
    public static let defaultRetries = 3

    /// From Docker's values, 0 meaning the default.
    public init(interval: Int64, timeout: Int64, startPeriod: Int64, startInterval: Int64, retries: Int) {
        func or(_ value: Int64, _ fallback: UInt64) -> UInt64 { value > 0 ? UInt64(value) : fallback }
        self.interval = or(interval, HealthSchedule.defaultInterval)
        self.timeout = or(timeout, HealthSchedule.defaultTimeout)
        self.startPeriod = or(startPeriod, 0)
        self.startInterval = or(startInterval, HealthSchedule.defaultStartInterval)
        self.retries = retries > 0 ? retries : HealthSchedule.defaultRetries
    }

    /// `--health`'s value.
    public var argument: String { "\(interval),\(timeout),\(startPeriod),\(startInterval),\(retries)" }

    /// Parses `--health`'s value; nil when it is not five numbers with a positive interval and timeout.
    public init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 5, let interval = UInt64(parts[0]), let timeout = UInt64(parts[1]),
              let startPeriod = UInt64(parts[2]), let startInterval = UInt64(parts[3]), let retries = Int(parts[4]),
              interval > 0, timeout > 0, startInterval > 0, retries > 0 else { return nil }
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.retries = retries
    }

    /// Whether a `Healthcheck.Test` runs anything: `CMD ...` or `CMD-SHELL ...` (moby's getProbe;
    /// `NONE`, an empty test or another word: no healthcheck).
    public static func runs(test: [String]) -> Bool {
        guard let kind = test.first, test.count > 1 else { return false }
        return kind == "CMD" || kind == "CMD-SHELL"
    }

    /// The probe's command: `CMD`'s arguments, or `CMD-SHELL`'s after the container's shell
    /// (`Config.Shell`, else `/bin/sh -c`).
    public static func command(test: [String], shell: [String]) -> [String]? {
        guard runs(test: test) else { return nil }
        let rest = Array(test.dropFirst())
        if test[0] == "CMD-SHELL" { return (shell.isEmpty ? ["/bin/sh", "-c"] : shell) + rest }
        return rest
    }
}

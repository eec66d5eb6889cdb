import Platform

/// A container's healthcheck state, Docker's `State.Health`: the status, the failing streak and
/// the last results. Written by the container's monitor (the status at each start and exit) and
/// by its probes (`skiff-monitor --health-probe`, each result); read by inspect, `docker ps` and
/// the list's `health` filter. Kept in the container's row (migration 10); no status: the
/// container never ran with a healthcheck (`none`).
public struct HealthRecord: Sendable, Equatable {
    /// `starting`, `healthy` or `unhealthy`.
    public var status: String
    public var failingStreak: Int
    /// Oldest first, at most `HealthRecord.logKept`.
    public var log: [HealthResult]

    /// Docker keeps the last 5 results (moby's maxLogEntries).
    public static let logKept = 5

    public init(status: String, failingStreak: Int = 0, log: [HealthResult] = []) {
        self.status = status
        self.failingStreak = failingStreak
        self.log = log
    }

    /// Docker's `Health` object.
    public var json: JSON {
        .object([
            JSON.Member("Status", .string(status)),
            JSON.Member("FailingStreak", .int(Int64(failingStreak))),
            JSON.Member("Log", .array(log.map(\.json))),
        ])
    }

    /// The row's `log` column: the results as inspect shows them.
    static func decodeLog(_ bytes: [UInt8]) -> [HealthResult] {
        guard case .array(let values)? = try? JSONParser.parse(bytes) else { return [] }
        return values.map { value in
            func text(_ key: String) -> String {
                if case .string(let s)? = value[key] { return s }
                return ""
            }
            var code = 0
            if case .int(let n)? = value["ExitCode"] { code = Int(n) }
            return HealthResult(start: text("Start"), end: text("End"), exitCode: code, output: text("Output"))
        }
    }
}

/// One probe's result, Docker's `HealthcheckResult`.
public struct HealthResult: Sendable, Equatable {
    /// RFC 3339 with nanoseconds.
    public var start: String
    public var end: String
    /// The probe's exit code; -1 when it timed out or could not run.
    public var exitCode: Int
    public var output: String

    public init(start: String, end: String, exitCode: Int, output: String) {
        self.start = start
        self.end = end
        self.exitCode = exitCode
        self.output = output
    }

    public var json: JSON {
        .object([
            JSON.Member("Start", .string(start)), JSON.Member("End", .string(end)),
            JSON.Member("ExitCode", .int(Int64(exitCode))), JSON.Member("Output", .string(output)),
        ])
    }
}

extension Store {
    /// The container's health (nil: none recorded).
    public func health(of id: String) throws -> HealthRecord? {
        let rows = try database.query("SELECT health_status, health_streak, health_log FROM containers WHERE id = ?",
                                      [.text(id)])
        guard let row = rows.first, let status = row.text(0), !status.isEmpty else { return nil }
        var log: [UInt8] = []
        if case .blob(let bytes) = row.values[2] { log = bytes }
        return HealthRecord(status: status, failingStreak: Int(row.int(1) ?? 0),
                            log: HealthRecord.decodeLog(log))
    }

    /// Every recorded status by container id (the list's STATUS and `health` filter).
    public func healthStatuses() throws -> [String: String] {
        var statuses: [String: String] = [:]
        for row in try database.query("SELECT id, health_status FROM containers WHERE health_status != ''") {
            if let id = row.text(0), let status = row.text(1) { statuses[id] = status }
        }
        return statuses
    }

    /// Changes the container's health in one transaction: `body` gets the current record (nil:
    /// none) and the container's row, and returns the new record (nil: leave it as it is).
    /// Returns the status before and after; nil when the container is gone.
    @discardableResult
    public func updateHealth(_ id: String,
                             _ body: (HealthRecord?, ContainerRecord) throws -> HealthRecord?) throws
        -> (before: String?, after: String?)? {
        try database.transaction {
            guard let container = try container(id: id) else { return nil }
            let current = try health(of: id)
            guard let next = try body(current, container) else { return (current?.status, current?.status) }
            let log = JSON.array(next.log.suffix(HealthRecord.logKept).map(\.json))
            try database.query("UPDATE containers SET health_status = ?, health_streak = ?, health_log = ? WHERE id = ?",
                               [.text(next.status), .integer(Int64(next.failingStreak)), .blob(log.bytes), .text(id)])
            return (current?.status, next.status)
        }
    }
}

import Platform

/// One exec instance as the Store keeps it (`POST /containers/{id}/exec`): the service writes
/// it at create, claims it at start (`running`), and the exec's supervisor records the process's
/// pid and its exit (docs/exec.md).
public struct ExecRecord: Sendable, Equatable {
    public enum State: String, Sendable {
        case created, running, exited
    }

    /// 64 lowercase hex.
    public var id: String
    public var containerID: String
    /// Unix nanoseconds.
    public var created: Int64
    public var state: State
    /// nil until the exec ended (Docker's `ExitCode: null`).
    public var exitCode: Int32?
    /// The process in the host's pid namespace; 0 when it does not run.
    public var pid: Int32 = 0
    public var supervisorPID: Int32 = 0
    /// `/proc/<pid>/stat` starttime of the supervisor (pid reuse check).
    public var supervisorStartTime: UInt64 = 0
    /// Unix nanoseconds the exec ended; 0: it did not.
    public var finished: Int64 = 0
    /// The service's JSON of the exec's settings (ProcessConfig, streams, detach keys).
    public var config: [UInt8]

    public init(id: String, containerID: String, created: Int64, config: [UInt8]) {
        self.id = id
        self.containerID = containerID
        self.created = created
        self.state = .created
        self.config = config
    }
}

extension Store {
    static let execColumns = """
        id, container_id, created, state, exit_code, pid, supervisor_pid, supervisor_start, finished, config
        """

    public func addExec(_ record: ExecRecord) throws {
        try database.query("INSERT INTO execs (\(Store.execColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           Store.values(record))
    }

    public func exec(id: String) throws -> ExecRecord? {
        try execRecords(where: "WHERE id = ?", [.text(id)]).first
    }

    /// The execs of one container, oldest first.
    public func execs(containerID: String) throws -> [ExecRecord] {
        try execRecords(where: "WHERE container_id = ? ORDER BY created", [.text(containerID)])
    }

    /// Changes one row in a transaction; `.notFound` when it is gone.
    @discardableResult
    public func updateExec(_ id: String, _ body: (inout ExecRecord) throws -> Void) throws -> ExecRecord {
        try database.transaction {
            guard var record = try exec(id: id) else { throw StoreError(.notFound, "No such exec instance: \(id)") }
            let before = record
            try body(&record)
            guard record.id == before.id, record.containerID == before.containerID else {
                throw StoreError(.invalidArgument, "exec \(id): its id and container cannot change")
            }
            if record != before {
                try database.query("""
                    UPDATE execs SET state = ?, exit_code = ?, pid = ?, supervisor_pid = ?, supervisor_start = ?,
                        finished = ?
                    WHERE id = ?
                    """, [.text(record.state.rawValue), record.exitCode.map { .integer(Int64($0)) } ?? .null,
                          .integer(Int64(record.pid)), .integer(Int64(record.supervisorPID)),
                          .integer(Int64(bitPattern: record.supervisorStartTime)), .integer(record.finished),
                          .text(id)])
            }
            return record
        }
    }

    /// Removes the execs of a container (it stopped: Docker forgets them then).
    @discardableResult
    public func deleteExecs(containerID: String) throws -> Int {
        try database.query("DELETE FROM execs WHERE container_id = ?", [.text(containerID)])
        return database.changes
    }

    /// Removes one exec; whether it existed.
    @discardableResult
    public func deleteExec(id: String) throws -> Bool {
        try database.query("DELETE FROM execs WHERE id = ?", [.text(id)])
        return database.changes > 0
    }

    static func values(_ r: ExecRecord) -> [SQLValue] {
        [.text(r.id), .text(r.containerID), .integer(r.created), .text(r.state.rawValue),
         r.exitCode.map { .integer(Int64($0)) } ?? .null, .integer(Int64(r.pid)), .integer(Int64(r.supervisorPID)),
         .integer(Int64(bitPattern: r.supervisorStartTime)), .integer(r.finished), .blob(r.config)]
    }

    func execRecords(where filter: String, _ arguments: [SQLValue]) throws -> [ExecRecord] {
        try database.query("SELECT \(Store.execColumns) FROM execs \(filter)", arguments).compactMap { row in
            guard let id = row.text(0), let container = row.text(1),
                  let state = row.text(3).flatMap(ExecRecord.State.init(rawValue:)) else { return nil }
            var config: [UInt8] = []
            if case .blob(let bytes) = row.values[9] { config = bytes }
            var record = ExecRecord(id: id, containerID: container, created: row.int(2) ?? 0, config: config)
            record.state = state
            record.exitCode = row.int(4).map { Int32(truncatingIfNeeded: $0) }
            record.pid = Int32(truncatingIfNeeded: row.int(5) ?? 0)
            record.supervisorPID = Int32(truncatingIfNeeded: row.int(6) ?? 0)
            record.supervisorStartTime = UInt64(bitPattern: row.int(7) ?? 0)
            record.finished = row.int(8) ?? 0
            return record
        }
    }
}

extension Store {
    /// The chain ids of an image's layers, base first (an exec resolves its user in them).
    public func layerChainIDs(imageID: String) throws -> [String] {
        try imageLayers(imageID)
    }
}

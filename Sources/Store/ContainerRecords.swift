import Platform

/// One container as the Store keeps it. `config` is the service's own JSON (the create request as
/// normalized, with the image's defaults applied); the run state is in columns so the monitor can
/// update it without reading the config.
public struct ContainerRecord: Sendable, Equatable {
    public enum State: String, Sendable {
        case created, running, paused, restarting, removing, exited, dead
    }

    /// 64 lowercase hex.
    public var id: String
    /// Without the leading `/`.
    public var name: String
    /// `sha256:<hex>` of the image.
    public var imageID: String
    /// The image as the user named it (`busybox`), for `docker ps`.
    public var imageName: String
    /// Unix nanoseconds.
    public var created: Int64
    public var state: State
    public var config: [UInt8]
    /// The container's process, 0 when it does not run.
    public var pid: Int32 = 0
    public var monitorPID: Int32 = 0
    /// `/proc/<pid>/stat` starttime of the monitor (pid reuse check).
    public var monitorStartTime: UInt64 = 0
    public var exitCode: Int32 = 0
    /// RFC 3339 with nanoseconds, UTC; empty: never.
    public var startedAt = ""
    public var finishedAt = ""
    public var oomKilled = false
    public var restartCount = 0
    /// Set by stop and kill from the API: the restart policy does not apply to this exit.
    public var stopRequested = false
    public var error = ""
    /// The static members of its `GET /containers/json` entry, as JSON text without braces
    /// (written at create; empty: render them from `config`).
    public var summary: [UInt8] = []

    public init(id: String, name: String, imageID: String, imageName: String, created: Int64,
                state: State, config: [UInt8]) {
        self.id = id
        self.name = name
        self.imageID = imageID
        self.imageName = imageName
        self.created = created
        self.state = state
        self.config = config
    }

    /// Running, paused or restarting: a monitor should exist.
    public var isActive: Bool { state == .running || state == .paused || state == .restarting }
}

extension Store {
    static let containerColumns = """
        id, name, image_id, image_name, created, state, config, pid, monitor_pid, monitor_start, exit_code,
        started_at, finished_at, oom_killed, restart_count, stop_requested, error, summary
        """

    /// The same with `config` read as an empty blob (made once: a list reads it each time).
    static let containerColumnsWithoutConfig = containerColumns.replacingConfig

    /// The newest `?` containers.
    static let newestContainers = "SELECT \(containerColumns) FROM containers ORDER BY created DESC, id LIMIT ?"
    static let newestContainersWithoutConfig =
        "SELECT \(containerColumnsWithoutConfig) FROM containers ORDER BY created DESC, id LIMIT ?"

    /// Adds a container row. A name in use is `.exists` with Docker's message; the UNIQUE
    /// constraint makes concurrent creates of one name safe across processes.
    public func addContainer(_ record: ContainerRecord) throws {
        guard Store.isContainerID(record.id) else {
            throw StoreError(.invalidArgument, "invalid container id \"\(record.id)\"")
        }
        try database.transaction {
            if let holder = try database.queryScalarText("SELECT id FROM containers WHERE name = ?", [.text(record.name)]) {
                throw Store.nameConflict(record.name, holder: holder)
            }
            try database.query("INSERT INTO containers (\(Store.containerColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               Store.values(record))
        }
    }

    /// The container with exactly this id.
    public func container(id: String) throws -> ContainerRecord? {
        try containerRecords(where: "WHERE id = ?", [.text(id)]).first
    }

    /// Finds a container as moby does: a full id, then an exact name (with or without `/`), then
    /// a unique id prefix. Not found is `.notFound` with Docker's message; an ambiguous prefix is
    /// `.invalidArgument`.
    public func resolveContainer(_ input: String) throws -> ContainerRecord {
        if !input.isEmpty {
            if Store.isContainerID(input), let record = try container(id: input) { return record }
            let name = input.hasPrefix("/") ? String(input.dropFirst()) : input
            if let record = try containerRecords(where: "WHERE name = ?", [.text(name)]).first { return record }
            if input.utf8.allSatisfy(Store.isLowerHex) {
                let matches = try containerRecords(where: "WHERE id GLOB ?", [.text(input + "*")])
                if matches.count > 1 {
                    throw StoreError(.invalidArgument, "multiple IDs found with provided prefix: \(input)")
                }
                if let record = matches.first { return record }
            }
        }
        throw StoreError(.notFound, "No such container: \(input)")
    }

    /// Every container, newest first. Without `config` (empty in the records) a list of many
    /// containers reads much less.
    public func containers(withConfig: Bool = true) throws -> [ContainerRecord] {
        try containerRecords(where: "", [], withConfig: withConfig)
    }

    /// The newest `limit` containers (all of them when there are fewer), as `containers`.
    public func containers(withConfig: Bool = true, limit: Int) throws -> [ContainerRecord] {
        try containerRecords(where: "", [], withConfig: withConfig, limit: limit)
    }

    /// Changes one container in a transaction: `body` sees the current row. Returns the new row.
    /// `.notFound` when the row is gone (removed meanwhile).
    @discardableResult
    public func updateContainer(_ id: String, _ body: (inout ContainerRecord) throws -> Void) throws -> ContainerRecord {
        // A change that changes nothing takes no write lock (it is as if it came first).
        if let current = try container(id: id) {
            var copy = current
            try body(&copy)
            if copy == current { return current }
        }
        return try database.transaction {
            guard var record = try container(id: id) else {
                throw StoreError(.notFound, "No such container: \(id)")
            }
            let before = record
            try body(&record)
            guard record.id == before.id else { throw StoreError(.invalidArgument, "a container's id cannot change") }
            if record.name != before.name,
               let holder = try database.queryScalarText("SELECT id FROM containers WHERE name = ?", [.text(record.name)]) {
                throw Store.nameConflict(record.name, holder: holder)
            }
            if record != before {
                var values = Store.values(record)
                values.append(.text(id))
                try database.query("""
                    UPDATE containers SET id = ?, name = ?, image_id = ?, image_name = ?, created = ?, state = ?,
                        config = ?, pid = ?, monitor_pid = ?, monitor_start = ?, exit_code = ?, started_at = ?,
                        finished_at = ?, oom_killed = ?, restart_count = ?, stop_requested = ?, error = ?,
                        summary = ?
                    WHERE id = ?
                    """, values)
            }
            return record
        }
    }

    /// Removes the row (and its volume links); returns whether it existed.
    @discardableResult
    public func deleteContainer(_ id: String) throws -> Bool {
        try database.transaction {
            try database.query("DELETE FROM containers WHERE id = ?", [.text(id)])
            return database.changes > 0
        }
    }

    /// Whether `name` is free (without `/`).
    public func containerName(_ name: String) throws -> String? {
        try database.queryScalarText("SELECT id FROM containers WHERE name = ?", [.text(name)])
    }

    // MARK: - Helpers

    /// moby's message for a name in use.
    static func nameConflict(_ name: String, holder: String) -> StoreError {
        StoreError(.exists, "Conflict. The container name \"/\(name)\" is already in use by container \"\(holder)\". "
                   + "You have to remove (or rename) that container to be able to reuse that name.")
    }

    public static func isContainerID(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy(isLowerHex)
    }

    static func values(_ r: ContainerRecord) -> [SQLValue] {
        [.text(r.id), .text(r.name), .text(r.imageID), .text(r.imageName), .integer(r.created), .text(r.state.rawValue),
         .blob(r.config), .integer(Int64(r.pid)), .integer(Int64(r.monitorPID)), .integer(Int64(bitPattern: r.monitorStartTime)),
         .integer(Int64(r.exitCode)), .text(r.startedAt), .text(r.finishedAt), .integer(r.oomKilled ? 1 : 0),
         .integer(Int64(r.restartCount)), .integer(r.stopRequested ? 1 : 0), .text(r.error), .blob(r.summary)]
    }

    func containerRecords(where filter: String, _ arguments: [SQLValue], withConfig: Bool = true,
                          limit: Int? = nil) throws -> [ContainerRecord] {
        let rows: [Row]
        if filter.isEmpty, let limit {
            // The list's query, made once (a list runs it on every request).
            rows = try database.query(withConfig ? Store.newestContainers : Store.newestContainersWithoutConfig,
                                      [.integer(Int64(max(0, limit)))])
        } else {
            let columns = withConfig ? Store.containerColumns : Store.containerColumnsWithoutConfig
            let bound = limit.map { " LIMIT \(max(0, $0))" } ?? ""
            rows = try database.query("SELECT \(columns) FROM containers \(filter) ORDER BY created DESC, id" + bound, arguments)
        }
        return rows
            .compactMap { row in
                guard let id = row.text(0), let name = row.text(1), let image = row.text(2),
                      let state = row.text(5).flatMap(ContainerRecord.State.init(rawValue:)) else { return nil }
                var config: [UInt8] = []
                if case .blob(let bytes) = row.values[6] { config = bytes }
                var r = ContainerRecord(id: id, name: name, imageID: image, imageName: row.text(3) ?? "",
                                        created: row.int(4) ?? 0, state: state, config: config)
                r.pid = Int32(truncatingIfNeeded: row.int(7) ?? 0)
                r.monitorPID = Int32(truncatingIfNeeded: row.int(8) ?? 0)
                r.monitorStartTime = UInt64(bitPattern: row.int(9) ?? 0)
                r.exitCode = Int32(truncatingIfNeeded: row.int(10) ?? 0)
                r.startedAt = row.text(11) ?? ""
                r.finishedAt = row.text(12) ?? ""
                r.oomKilled = (row.int(13) ?? 0) != 0
                r.restartCount = Int(row.int(14) ?? 0)
                r.stopRequested = (row.int(15) ?? 0) != 0
                r.error = row.text(16) ?? ""
                if row.values.count > 17, case .blob(let bytes) = row.values[17] { r.summary = bytes }
                return r
            }
    }
}

extension ContainerRecord {
    /// `Config.Labels` of the stored config.
    public var labels: [String: String] {
        var labels: [String: String] = [:]
        if case .object(let members)? = (try? JSONParser.parse(config))?["Config"]?["Labels"] {
            for m in members { if case .string(let v) = m.value { labels[m.key] = v } }
        }
        return labels
    }

    /// An event's actor attributes as moby writes them for a container: its labels, `name` and
    /// `image`, and `extra` (exitCode, signal...).
    public func eventAttributes(_ extra: [String: String] = [:]) -> [String: String] {
        eventAttributes(labels: labels, extra)
    }

    /// The same with the labels already read (`labels` parses the stored config).
    public func eventAttributes(labels: [String: String], _ extra: [String: String] = [:]) -> [String: String] {
        var attributes = labels
        attributes["name"] = name
        attributes["image"] = imageName.isEmpty ? imageID : imageName
        for (key, value) in extra { attributes[key] = value }
        return attributes
    }
}

extension String {
    /// The column list with `config` read as an empty blob.
    fileprivate var replacingConfig: String {
        var parts = split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if let i = parts.firstIndex(where: { $0.trimmingCharacters == "config" }) { parts[i] = " x''" }
        return parts.joined(separator: ",")
    }

    fileprivate var trimmingCharacters: Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" { s.removeLast() }
        return s
    }
}

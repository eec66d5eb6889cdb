import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Where one container's files are (docs/containers.md).
struct ContainerPaths: Sendable {
    let id: String
    /// `<skiff root>/containers/<id>`: the OCI bundle, the overlay dirs, the log.
    let bundle: String
    /// `<run>/containers/<id>`: the monitor's sockets and the exit file.
    let run: String
    /// `<run>/runtime`: the runtime's state root.
    let runtimeRoot: String

    init(engine: Engine, id: String) {
        self.id = id
        bundle = engine.config.skiffRoot + "/containers/" + id
        run = engine.config.runtimeDirectoryPath + "/containers/" + id
        runtimeRoot = engine.config.runtimeDirectoryPath + "/runtime"
    }

    var log: String { bundle + "/ctr.log" }
    var exitFile: String { run + "/exit" }
    var attachSocket: String { run + "/attach" }
    var controlSocket: String { run + "/ctl" }
    /// The runtime's state.json for this container (pid and its start time).
    var runtimeState: String { runtimeRoot + "/" + id + "/state.json" }
}

extension JSON {
    var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .uint(let u): return Int64(exactly: u)
        case .double(let d): return Int64(exactly: d)
        default: return nil
        }
    }
}

/// What the exit file says.
struct ExitFile: Sendable {
    var exitCode: Int32
    var finishedAt: String
    var oomKilled: Bool

    static func read(_ path: String) -> ExitFile? {
        guard let bytes = try? FileSystem.readFile(path, limit: 4096), let json = try? JSONParser.parse(bytes),
              let code = json["ExitCode"]?.intValue else { return nil }
        return ExitFile(exitCode: Int32(truncatingIfNeeded: code), finishedAt: json["FinishedAt"]?.stringValue ?? "",
                        oomKilled: json["OOMKilled"]?.boolValue ?? false)
    }
}

extension Engine {
    /// Whether `reconcile` would change the row: it is active and its monitor is gone.
    func needsReconcile(_ record: ContainerRecord) -> Bool {
        record.isActive && !(record.monitorPID > 0 && ProcessStat.isAlive(record.monitorPID, startTime: record.monitorStartTime))
    }

    /// The container as it really is: a row that says running (or paused, restarting) whose
    /// monitor is gone is brought up to date — from the exit file if the monitor wrote one, else
    /// as exited with an unknown code (-1), its leftover process killed. Call with the Store.
    func reconcile(_ record: ContainerRecord, store: Store) throws -> ContainerRecord {
        guard needsReconcile(record) else { return record }
        // The monitor may be between `started` and writing the row: trust a row younger than a
        // moment only when its monitor pid is unknown.
        let paths = ContainerPaths(engine: self, id: record.id)
        let exit = ExitFile.read(paths.exitFile)
        if exit == nil { killLeftover(paths) }
        FileSystem.removeTree(paths.runtimeRoot + "/" + record.id)
        let updated = try store.updateContainer(record.id) { row in
            guard row.isActive, row.monitorPID == record.monitorPID else { return }
            row.state = .exited
            row.pid = 0
            row.exitCode = exit?.exitCode ?? -1
            row.finishedAt = exit?.finishedAt ?? Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
            row.oomKilled = exit?.oomKilled ?? false
            if exit == nil && row.error.isEmpty { row.error = "the container's monitor exited" }
        }
        if exit == nil {
            _ = try? store.addEvent(type: "container", action: "die", actorID: record.id,
                                attributes: ["exitCode": "-1", "name": record.name, "image": record.imageName])
        }
        return updated
    }

    /// Kills a container process the runtime's state names, if it still runs (same start time).
    func killLeftover(_ paths: ContainerPaths) {
        guard let bytes = try? FileSystem.readFile(paths.runtimeState, limit: 1 << 20),
              let state = try? JSONParser.parse(bytes),
              let pid = state["pid"]?.intValue, let start = state["pidStartTime"]?.intValue, pid > 0 else { return }
        let p = Int32(truncatingIfNeeded: pid)
        if ProcessStat.isAlive(p, startTime: UInt64(bitPattern: start)) {
            kill(p, SIGKILL)
        }
    }

    /// Reconciles every row that says running, paused or restarting (for counts).
    func reconcileAll(_ store: Store) throws {
        for record in try store.containers() where record.isActive {
            _ = try reconcile(record, store: store)
        }
    }

    /// Resolves `input` and reconciles it, under the Store lock.
    func currentContainer(_ input: String) throws -> ContainerRecord {
        try withStore { store in try reconcile(try store.resolveContainer(input), store: store) }
    }
}

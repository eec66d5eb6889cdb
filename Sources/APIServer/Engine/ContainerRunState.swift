import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The container's files (MonitorProtocol's layout), by this name in every file of the service.
typealias ContainerPaths = MonitorProtocol.ContainerPaths

extension ContainerPaths {
    /// The container's files under the engine's roots.
    init(engine: Engine, id: String) {
        self.init(skiffRoot: engine.config.skiffRoot, runtimeDirectory: engine.config.runtimeDirectoryPath, id: id)
    }
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

extension Engine {
    /// Whether `reconcile` would change the row: it is active and its monitor is gone.
    func needsReconcile(_ record: ContainerRecord) -> Bool {
        record.isActive && !(record.monitorPID > 0 && ProcessStat.isAlive(record.monitorPID, startTime: record.monitorStartTime))
    }

    /// The container as it really is: a row that says running (or paused, restarting) whose
    /// monitor is gone is brought up to date — from the exit file if the monitor wrote one, else
    /// as exited with an unknown code (-1), its leftover process killed. Call with the Store.
    /// The write is the reader's courtesy, not its condition: when it fails (a full disk), the
    /// answer is the row as it would be written, and the next read tries again.
    func reconcile(_ record: ContainerRecord, store: Store) throws -> ContainerRecord {
        guard needsReconcile(record) else { return record }
        // The monitor may be between `started` and writing the row: trust a row younger than a
        // moment only when its monitor pid is unknown.
        let paths = ContainerPaths(engine: self, id: record.id)
        let exit = ExitFile.read(paths.exitFile)
        // The runtime kills what is left of the container (its process, when the monitor wrote
        // no exit) and removes its state and cgroups.
        try? runtime.delete(record.id, force: true)
        let finishedAt = exit?.finishedAt ?? Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
        func settle(_ row: inout ContainerRecord) {
            guard row.isActive, row.monitorPID == record.monitorPID else { return }
            row.state = .exited
            row.pid = 0
            row.exitCode = exit?.exitCode ?? -1
            row.finishedAt = finishedAt
            row.oomKilled = exit?.oomKilled ?? false
            if exit == nil && row.error.isEmpty { row.error = "the container's monitor exited" }
        }
        let updated: ContainerRecord
        do {
            updated = try store.updateContainer(record.id) { settle(&$0) }
        } catch let error as StoreError where error.code == .notFound {
            throw error
        } catch {
            var settled = record
            settle(&settled)
            return settled
        }
        if exit == nil {
            _ = try? store.addEvent(type: "container", action: "die", actorID: record.id,
                                attributes: ["exitCode": "-1", "name": record.name, "image": record.imageName])
        }
        // Its healthcheck stopped with it: unhealthy, as the monitor records at an exit.
        if !updated.isActive { try? markHealthStopped(record.id, store: store) }
        return updated
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

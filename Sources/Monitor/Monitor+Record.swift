import CLinux
import MonitorProtocol
import Platform
import Runtime
import Store

#if canImport(Glibc)
import Glibc
#endif

/// What the monitor writes down: the Store row, events, the exit file; and `--auto-remove`.
/// The Store is opened on the first write and kept for the writes that follow (a start, then an
/// exit and a removal), and closed before a long wait (`closeStore`): no SQLite connection or
/// cache stays while the container runs.
extension Monitor {
    func withStore<T>(_ body: (Store) throws -> T) -> T? {
        if store == nil { store = try? Store(root: options.store) }
        guard let store else { return nil }
        return try? body(store)
    }

    /// Closes the Store until the next write.
    func closeStore() {
        store = nil
    }

    static func now() -> String {
        Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
    }

    /// Event attributes Docker gives container events: labels, name and image (plus what is
    /// added). The labels are read once.
    func attributes(_ record: ContainerRecord, _ extra: [String: String] = [:]) -> [String: String] {
        if labels == nil { labels = record.labels }
        return record.eventAttributes(labels: labels ?? [:], extra)
    }

    /// Opens the Store and reads the labels (`create` runs it while the container's process sets
    /// itself up).
    func readLabels() {
        _ = withStore { store in
            if labels == nil, let record = try store.container(id: options.id) { labels = record.labels }
        }
    }

    /// The process runs: state `running` with its pid, this monitor's pid and start time
    /// (for the service's liveness check), StartedAt; on a restart, RestartCount + 1 and a
    /// `restart` event.
    func recordRunning(restarted: Bool) {
        let pid = loop.pointee.pid
        let monitorPID = getpid()
        let monitorStart = Sys.startTime(of: monitorPID)
        let startedAt = Monitor.now()
        _ = withStore { store in
            let record = try store.updateContainer(options.id) { r in
                r.state = .running
                r.pid = pid
                r.monitorPID = monitorPID
                r.monitorStartTime = monitorStart
                r.startedAt = startedAt
                r.exitCode = 0
                r.oomKilled = false
                r.error = ""
                if restarted { r.restartCount += 1 }
            }
            // The monitor writes `start` (not the service): it comes before this run's `die`,
            // which the monitor writes too, however soon the process exits.
            try recordVolumeEvents(store, record, mounted: true)
            try store.addEvent(type: "container", action: restarted ? "restart" : "start", actorID: options.id,
                               attributes: attributes(record))
        }
        recordHealthStarting()
    }

    /// The process ended with `code`: the exit file, then the row (`exited`, or `restarting`
    /// when the policy restarts it and no stop was asked for) and a `die` event. Returns whether
    /// to restart.
    /// `exitFileWritten`: skiff-relay wrote it (with `finishedAt`) before handing back.
    func recordExit(code: Int32, error: String = "", finishedAt: String = Monitor.now(),
                    exitFileWritten: Bool = false, oomKilled: Bool = false) -> Bool {
        // The relay writes the exit file without knowing of OOM kills: written again then.
        if !exitFileWritten || oomKilled { writeExitFile(code: code, finishedAt: finishedAt, oomKilled: oomKilled) }
        let autoRemove = options.autoRemove
        let started = options.restart
        let restarts = self.restarts
        let restart = withStore { store -> Bool in
            var restart = false
            let record = try store.updateContainer(options.id) { r in
                // The policy as the Store has it now: `docker update --restart` may have changed
                // it while the process ran (the monitor was skiff-relay then).
                let policy = autoRemove ? RestartPolicy.no : (RestartPolicy(storedConfig: r.config) ?? started)
                restart = error.isEmpty
                    && policy.shouldRestart(exitCode: code, restarts: restarts, stopRequested: r.stopRequested)
                r.state = restart ? .restarting : .exited
                r.pid = 0
                r.exitCode = code
                r.finishedAt = finishedAt
                r.oomKilled = oomKilled
                r.error = error
            }
            try recordDenialEvents(store, record)
            try recordVolumeEvents(store, record, mounted: false)
            try store.addEvent(type: "container", action: "die", actorID: options.id,
                               attributes: attributes(record, ["exitCode": String(code)]))
            return restart
        }
        recordHealthStopped()
        return restart ?? false
    }

    /// After the back-off: the row is still there, still `restarting`, and nobody asked for a stop.
    func stillWantsRestart() -> Bool {
        defer { closeStore() }   // asked between slices of the back-off
        return withStore { store in
            guard let record = try store.container(id: options.id) else { return false }
            return record.state == .restarting && !record.stopRequested
        } ?? false
    }

    /// A stop came during the back-off: the last exit stands (`restarting` becomes `exited`).
    func recordRestartCancelled() {
        _ = withStore { store in
            try store.updateContainer(options.id) { r in
                if r.state == .restarting { r.state = .exited }
            }
        }
    }

    /// A restart that could not create or start the process: recorded as an exit with the
    /// runtime's message (127: not found, 126: not executable, 125 otherwise, as Docker does).
    func recordFailedRestart(_ error: any Error) {
        var code: Int32 = 125
        var message = "\(error)"
        if let error = error as? RuntimeError {
            message = error.message(withoutContext: options.id)
            if error.code == .notFound { code = 127 }
            if error.code == .permissionDenied { code = 126 }
        }
        _ = recordExit(code: code, error: message)
    }

    /// The exit file (`ExitFile`), atomically.
    func writeExitFile(code: Int32, finishedAt: String, oomKilled: Bool = false) {
        try? ExitFile(exitCode: code, finishedAt: finishedAt, oomKilled: oomKilled).write(to: options.exitPath)
    }

    // MARK: - --auto-remove

    /// Removes the container: its tree (by `skiff-image remove-container`, inside the user
    /// namespace when rootless, since upper/ holds files of sub-ids), the run directory, the row,
    /// and a `destroy` event.
    func removeContainer() {
        let tree = options.bundle
        // Most trees hold only files of the user's own id (the container's root): they go
        // without the worker. What is left (sub-id files) goes in the user namespace.
        FileSystem.removeTree(tree)
        if access(tree, F_OK) == 0 && !runImageWorker(["remove-container", "--root", options.store, options.id]) {
            FileSystem.removeTree(tree)
        }
        removeRunDirectory()
        let anonymous = withStore { store -> [String] in
            let record = try store.container(id: options.id)
            let anonymous = try store.volumes(of: options.id).filter(\.anonymous).map(\.name)
            if try store.deleteContainer(options.id), let record {
                try store.addEvent(type: "container", action: "destroy", actorID: options.id,
                                   attributes: attributes(record))
            }
            return anonymous
        } ?? []
        // `--rm` removes the container's anonymous volumes too (Docker's), unless another
        // container uses one (`--volumes-from`).
        for name in anonymous {
            guard withStore({ store in try store.deleteVolume(name: name) }) != nil else { continue }
            let directory = options.store + "/volumes/" + name
            FileSystem.removeTree(directory)
            if access(directory, F_OK) == 0 { _ = runImageWorker(["remove-volume", "--root", options.store, name]) }
            _ = withStore { store in try store.addEvent(type: "volume", action: "destroy", actorID: name, attributes: ["driver": "local"]) }
        }
    }

    /// Runs `skiff-image [--userns] ARGS` and waits; true when it succeeded.
    func runImageWorker(_ arguments: [String]) -> Bool {
        let worker = options.imageWorker ?? SelfExecutable.beside("skiff-image")
        var argv = [worker] + arguments
        if getuid() != 0 { argv.insert("--userns", at: 2) }
        guard let pid = try? Spawn.start(argv, Spawn.Options(descriptors: [0, 1, 2])),
              let status = Spawn.wait(pid) else { return false }
        return status == 0
    }
}

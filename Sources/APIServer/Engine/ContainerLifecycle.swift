import CLinux
import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The work behind the run-state operations (`Engine+ContainerLifecycle.swift`): start through
/// the monitor, stop and wait for the recorded exit, resume, remove a stopped container and its
/// files. The monitor does the running; this talks to it, the runtime and the Store.
enum ContainerLifecycle {
    // MARK: - start

    /// Spawns the monitor, lets waiting attach sessions in, starts the program, and waits for the
    /// monitor to record `running`. A failed start leaves the row `created` or `exited` with the
    /// error and Docker's exit code (127 not found, 126 not executable), as moby does; an
    /// AutoRemove container whose start failed, whatever the step, is removed (its client waits
    /// for `removed`), as moby does.
    static func startContainer(_ record: ContainerRecord, engine: Engine) throws {
        // Started or not, the row changed: waits look again.
        defer { engine.containerSignals.signal(record.id) }
        let options = try StoredContainer(record)
        do {
            try startContainer(record, options: options, engine: engine)
        } catch {
            // failStart has removed it already when the monitor reported the failure.
            if options.autoRemove, (try? engine.withStore({ try $0.container(id: record.id) })) != nil {
                try? removeContainer(record, engine: engine, volumes: true)
            }
            throw error
        }
    }

    private static func startContainer(_ record: ContainerRecord, options: StoredContainer, engine: Engine) throws {
        let paths = ContainerPaths(engine: engine, id: record.id)
        // A monitor spawned at create (`PreparedStarts`) has created the container already.
        let prepared = record.state == .created ? engine.preparedStarts.claim(record.id) : nil
        if prepared == nil {
            try ContainerNetworkMode.prepareStart(record, options: options, bundle: paths.bundle, engine: engine)
            try makeRunDirectory(paths, engine: engine)
        }
        do {
            try publishPorts(record, options: options, paths: paths, engine: engine)
        } catch {
            // Nothing was started: the prepared monitor removes what it made; the run directory goes.
            prepared?.abandon()
            FileSystem.removeTree(paths.run)
            throw error
        }
        let before = try engine.withStore { store in
            // updateContainer writes only when something changed.
            try store.updateContainer(record.id) { row in
                row.stopRequested = false
                row.error = ""
            }
        }
        let monitor: MonitorLauncher
        if let prepared {
            monitor = prepared
        } else {
            do {
                monitor = try MonitorLauncher(engine: engine, record: before, options: options, paths: paths)
            } catch {
                FileSystem.removeTree(paths.run)
                throw error
            }
        }
        defer { monitor.finish() }
        do {
            if prepared == nil { _ = try monitor.waitCreated() }
            _ = engine.attachments.connectPending(containerID: record.id, attachSocketDirectory: paths.run)
            try monitor.start()
        } catch let failure as StartFailure {
            try failStart(before, failure, options: options, engine: engine)
        }
        // The monitor records `running` right after `started`; wait for it so an inspect that
        // follows this answer sees the container running (or already exited).
        for _ in 0..<400 {
            let now = try engine.withStore { try $0.container(id: record.id) }
            guard let now else { break }
            if now.state != before.state || now.finishedAt != before.finishedAt || now.monitorPID != before.monitorPID {
                break
            }
            usleep(5_000)
        }
        // The `start` event is the monitor's (recordRunning): it must come before `die`.
    }

    /// The published ports resolved and checked (`ContainerPorts`), written to `<run>/ports` for
    /// the monitor (before `start`) and for inspect and the list.
    static func publishPorts(_ record: ContainerRecord, options: StoredContainer, paths: ContainerPaths,
                             engine: Engine) throws {
        guard options.networkMode == "bridge" || engine.isUserNetwork(options.networkMode) else { return }
        let requested = try ContainerPorts.requested(options)
        guard !requested.isEmpty else { return }
        // moby publishes through the sandbox's gateway endpoint, the first network that is not
        // Internal: a container on Internal networks only publishes nothing (its exposed
        // ports show as null in inspect, none in the list).
        if options.networkMode != "bridge" {
            let networks = engine.joinedNetworks(of: record).map(\.network)
            if !networks.isEmpty && networks.allSatisfy(\.isInternal) { return }
        }
        let ports = try ContainerPorts.resolve(requested, id: record.id, name: record.name, isRoot: !engine.isRootless)
        do {
            try FileSystem.writeAtomically(paths.run + "/" + PublishedPort.fileName, Array(PublishedPort.file(ports).utf8))
        } catch {
            throw EngineError(.internal, "starting \(record.id): ports: \(error)")
        }
    }

    /// `<run>/containers/<id>`, empty, for the monitor's sockets and exit file.
    static func makeRunDirectory(_ paths: ContainerPaths, engine: Engine) throws {
        do {
            try FileSystem.makeDirectories(engine.config.runtimeDirectoryPath + "/containers", mode: 0o700)
            FileSystem.removeTree(paths.run)
            try FileSystem.makeDirectories(paths.run, mode: 0o700)
        } catch {
            throw EngineError(.internal, "starting \(paths.id): \(error)")
        }
    }

    /// Records a start that failed and throws moby's answer for it: from the failed step and its
    /// errno, 127 for a program that is not there, 126 for one that cannot be executed, 127 and
    /// moby's hint for a mount onto the wrong kind of file; 128 and a server error otherwise.
    static func failStart(_ record: ContainerRecord, _ failure: StartFailure, options: StoredContainer,
                          engine: Engine) throws -> Never {
        var code: Int32 = 128
        var status = EngineError.Code.internal
        var text = failure.message
        switch (failure.step, failure.errno) {
        case (.exec, ENOENT):
            code = 127
            status = .invalidArgument
        case (.exec, EACCES):
            code = 126
            status = .invalidArgument
        case (.mount, ENOTDIR):
            text += ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type"
            code = 127
            status = .invalidArgument
        default:
            break
        }
        let paths = ContainerPaths(engine: engine, id: record.id)
        FileSystem.removeTree(paths.run)
        let full = "failed to create task for container: \(text): unknown"
        if options.autoRemove {
            try? removeContainer(record, engine: engine, volumes: true)
        } else {
            _ = try? engine.withStore { store in
                try store.updateContainer(record.id) { row in
                    row.exitCode = code
                    row.error = full
                    if row.state == .running || row.state == .restarting { row.state = .exited }
                    row.pid = 0
                }
            }
        }
        throw EngineError(status, full)
    }

    // MARK: - stop

    /// Sends the stop signal, waits up to `timeout` seconds for the monitor to record the exit,
    /// then kills. No restart policy applies to this exit.
    /// The record (StopRequested, the `kill` and `stop` events) is written where it must be, but
    /// never stands in the way: a write that fails (a full disk) does not keep the container
    /// from stopping.
    static func stopContainer(_ record: ContainerRecord, signal: Int32, timeout: Int, engine: Engine) throws {
        recordStopRequested(record, signal: signal, engine: engine)
        if record.pid > 0 { Glibc.kill(record.pid, signal) }
        if record.state == .paused {
            // A frozen process gets the signal once thawed.
            if engine.pausesWithFreezer { try? engine.runtime.resume(record.id) }
            signalTree(record.pid, SIGCONT)
        }
        if !(try waitStopped(record, engine: engine, milliseconds: timeout < 0 ? Int.max : timeout * 1000)) {
            let now = try engine.currentContainer(record.id)
            if now.isActive && now.pid > 0 { Glibc.kill(now.pid, SIGKILL) }
            if !(try waitStopped(now, engine: engine, milliseconds: 10_000)) {
                // The monitor does not answer: end it, and what it ran.
                if now.monitorPID > 0 && ProcessStat.isAlive(now.monitorPID, startTime: now.monitorStartTime) {
                    Glibc.kill(now.monitorPID, SIGKILL)
                }
                _ = try waitStopped(now, engine: engine, milliseconds: 2_000)
            }
        }
        _ = try? engine.withStore { store in
            try store.addEvent(type: "container", action: "stop", actorID: record.id, attributes: eventAttributes(record))
        }
    }

    /// StopRequested (no restart policy applies to the exit that follows) and a `kill` event with
    /// `signal`, written before the signal is sent: the monitor reads StopRequested when the
    /// process has exited, and its `die` comes after this `kill`. Best effort: a failed write
    /// (a full disk: SQLite fails at once) is left out, and the signal goes all the same; the
    /// monitor cannot record a restart on that disk either.
    static func recordStopRequested(_ record: ContainerRecord, signal: Int32, stopRequested: Bool = true,
                                    engine: Engine) {
        _ = try? engine.withStore { store in
            if stopRequested {
                _ = try store.updateContainer(record.id) { $0.stopRequested = true }
            }
            _ = try store.addEvent(type: "container", action: "kill", actorID: record.id,
                                   attributes: eventAttributes(record).merging(["signal": "\(signal)"]) { $1 })
        }
    }

    /// Waits until the container is no longer active (its monitor recorded the exit, or died);
    /// false on timeout.
    static func waitStopped(_ record: ContainerRecord, engine: Engine, milliseconds: Int) throws -> Bool {
        let deadline = Timestamp.monotonicNanos() &+ UInt64(min(milliseconds, Int(Int32.max))) &* 1_000_000
        var pidfd: Int32 = -1
        defer { if pidfd >= 0 { close(pidfd) } }
        var watched: Int32 = 0
        while true {
            guard let now = try engine.withStore({ store in
                try store.container(id: record.id).map { try engine.reconcile($0, store: store) }
            }) else { return true }
            if !now.isActive { return true }
            let left = Int64(bitPattern: deadline &- Timestamp.monotonicNanos())
            if left <= 0 { return false }
            if now.monitorPID != watched {
                if pidfd >= 0 { close(pidfd); pidfd = -1 }
                watched = now.monitorPID
                if watched > 0 { pidfd = skiff_pidfd_open(watched) }
            }
            let slice = Int32(min(left / 1_000_000 + 1, 50))
            if pidfd >= 0 {
                var poller = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, slice)
            } else {
                usleep(UInt32(slice) * 1000)
            }
        }
    }

    // MARK: - resume, the container's processes

    static func resume(_ record: ContainerRecord, engine: Engine) throws {
        if engine.pausesWithFreezer {
            do {
                try engine.runtime.resume(record.id)
            } catch let error as EngineError {
                throw EngineError(.internal, "Cannot unpause container \(record.id): \(error.message)")
            }
        } else {
            signalTree(record.pid, SIGCONT)
        }
        try engine.withStore { store in
            _ = try store.updateContainer(record.id) { row in if row.state == .paused { row.state = .running } }
        }
    }

    /// Sends `signal` to `pid` and every descendant (the container's processes).
    static func signalTree(_ pid: Int32, _ signal: Int32) {
        for p in processTree(pid) { Glibc.kill(p, signal) }
    }

    /// `pid` and its descendants, from /proc/<pid>/task/<tid>/children.
    static func processTree(_ pid: Int32) -> [Int32] {
        guard pid > 0 else { return [] }
        var result: [Int32] = []
        var queue = [pid]
        var seen = Set<Int32>()
        while let next = queue.popLast() {
            guard seen.insert(next).inserted else { continue }
            result.append(next)
            for task in FileSystem.directoryEntries("/proc/\(next)/task") ?? [] {
                guard let bytes = try? FileSystem.readFile("/proc/\(next)/task/\(task)/children", limit: 1 << 20) else { continue }
                for field in String(decoding: bytes, as: UTF8.self).split(separator: " ") {
                    if let child = Int32(field.trimmingWhitespace) { queue.append(child) }
                }
            }
        }
        return result
    }

    // MARK: - names

    /// Docker's rule: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
    static func isValidName(_ input: String) -> Bool {
        var bytes = Array(input.utf8)
        if bytes.first == UInt8(ascii: "/") { bytes.removeFirst() }
        guard bytes.count >= 2 else { return false }
        func alnum(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        }
        return alnum(bytes[0]) && bytes.dropFirst().allSatisfy {
            alnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    // MARK: - remove

    /// Removes a stopped container: its row goes to `removing` (with this process recorded as
    /// its remover), then its files (in the user namespace when rootless: upper/ holds sub-id
    /// files), anonymous volumes with `volumes`, the row, and a `destroy` event. A removal whose
    /// remover is gone (a service killed part way) is finished here; every step is one that may
    /// have been done already.
    static func removeContainer(_ record: ContainerRecord, engine: Engine, volumes: Bool) throws {
        defer { engine.containerSignals.signal(record.id) }
        // A monitor prepared for a start goes first: it removes what it made.
        engine.preparedStarts.cancel(record.id)
        let paths = ContainerPaths(engine: engine, id: record.id)
        let anonymous: [VolumeRecord]
        do {
            anonymous = try markRemoving(record, engine: engine)
        } catch let error as StoreError where error.isDiskFull && !record.isActive {
            // A full disk (often filled by the very container removed): its files go first, and
            // free what the Store needs to record the removal.
            try removeTree(paths.bundle, id: record.id, engine: engine)
            anonymous = try markRemoving(record, engine: engine)
        }
        engine.attachments.cancelPending(containerID: record.id)
        let leftovers = engine.runtimeMayHoldState(record, paths)
        FileSystem.removeTree(paths.run)
        // What the runtime may have left (a monitor that was killed cannot delete): its state,
        // and as root the container's cgroups. Never an error for `rm`.
        if leftovers { try? engine.runtime.delete(record.id, force: true) }
        do {
            try removeTree(paths.bundle, id: record.id, engine: engine)
        } catch {
            _ = try? engine.withStore { store in try store.updateContainer(record.id) { $0.state = .dead; $0.error = "\(error)" } }
            throw error
        }
        try engine.withStore { store in
            try store.deleteContainer(record.id)
            _ = try store.addEvent(type: "container", action: "destroy", actorID: record.id,
                                   attributes: eventAttributes(record))
        }
        // Its anonymous volumes (`rm -v`), unless another container uses one (`--volumes-from`).
        guard volumes else { return }
        for volume in anonymous {
            guard (try? engine.withStore({ store in try store.deleteVolume(name: volume.name) })) != nil else { continue }
            try? engine.removeVolumeFiles(volume.name)
            _ = try? engine.withStore { store in
                try store.addEvent(type: "volume", action: "destroy", actorID: volume.name, attributes: ["driver": "local"])
            }
        }
    }

    /// This process, as the Store records it removing a container.
    static let remover: ContainerRemover = {
        let pid = getpid()
        return ContainerRemover(pid: pid, startTime: ProcessStat.read(pid)?.startTime ?? 0)
    }()

    /// Whether `current` (the remover recorded for a `removing` row) is still at it: this
    /// process, or another one that is alive. None recorded (an older Skiff's mark) or a
    /// process that is gone: the removal was cut short.
    static func isRemoving(_ current: ContainerRemover?) -> Bool {
        guard let current else { return false }
        if current == remover { return true }
        return ProcessStat.isAlive(current.pid, startTime: current.startTime)
    }

    /// The row goes to `removing`, with this process recorded as its remover (a removal whose
    /// remover is still at it, or a running container, is a conflict: a row that says running
    /// but whose monitor is gone has stopped, whatever it says); its anonymous volumes.
    private static func markRemoving(_ record: ContainerRecord, engine: Engine) throws -> [VolumeRecord] {
        try engine.withStore { store -> [VolumeRecord] in
            _ = try store.markRemoving(record.id, by: remover) { row, current in
                if row.state == .removing && isRemoving(current) {
                    throw EngineError(.conflict, "removal of container \(record.id) is already in progress")
                }
                if row.isActive && !engine.needsReconcile(row) {
                    throw EngineError(.conflict, "cannot remove container \"/\(row.name)\": container is running: stop the container before removing or force remove")
                }
            }
            return try store.volumes(of: record.id).filter(\.anonymous)
        }
    }

    /// `<skiff root>/containers/<id>`, removed by the image worker in the user namespace when
    /// rootless, directly as root.
    static func removeTree(_ path: String, id: String, engine: Engine) throws {
        // Most trees hold only files of the user's own id: they go without the worker.
        FileSystem.removeTree(path)
        guard access(path, F_OK) == 0 else { return }
        if engine.isRootless {
            let worker = try ImageWorker(engine: engine, command: "remove-container", arguments: [id])
            if let error = worker.wait() { throw error }
        } else {
            FileSystem.removeTree(path)
        }
    }

    static func eventAttributes(_ record: ContainerRecord) -> [String: String] {
        record.eventAttributes()
    }
}

extension Substring {
    var trimmingWhitespace: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\n" || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\t" { s.removeLast() }
        return s
    }
}

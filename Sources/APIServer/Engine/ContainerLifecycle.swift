import CLinux
import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Start, stop, kill, restart, pause, unpause, rename, top, remove and prune: what changes a
/// container's run state. The monitor does the running; these handlers talk to it and the Store.
enum ContainerLifecycle {
    // MARK: - start

    static func containerStart(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        switch record.state {
        case .running, .restarting: return Response(status: .notModified)
        case .paused: throw EngineError(.conflict, "cannot start a paused container, try unpause instead")
        case .removing: throw EngineError(.conflict, "container is marked for removal and cannot be started")
        case .dead: throw EngineError(.conflict, "cannot start a dead container")
        case .created, .exited: break
        }
        try startContainer(record, engine: engine)
        return Response(status: .noContent)
    }

    /// Spawns the monitor, lets waiting attach sessions in, starts the program, and waits for the
    /// monitor to record `running`. A failed start leaves the row `created` or `exited` with the
    /// error and Docker's exit code (127 not found, 126 not executable), as moby does.
    static func startContainer(_ record: ContainerRecord, engine: Engine) throws {
        // Started or not, the row changed: waits look again.
        defer { engine.containerSignals.signal(record.id) }
        let options = try StoredContainer(record)
        let paths = ContainerPaths(engine: engine, id: record.id)
        // A monitor spawned at create (`PreparedStarts`) has created the container already.
        let prepared = record.state == .created ? engine.preparedStarts.claim(record.id) : nil
        if prepared == nil {
            try makeRunDirectory(paths, engine: engine)
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

    // MARK: - stop, restart, kill

    static func containerStop(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        guard record.isActive else { return Response(status: .notModified) }
        let (signal, timeout) = try stopParameters(request, record)
        try stopContainer(record, signal: signal, timeout: timeout, engine: engine)
        return Response(status: .noContent)
    }

    static func containerRestart(_ request: Request, _ engine: Engine) throws -> Response {
        var record = try engine.currentContainer(request.parameters["id"] ?? "")
        if record.state == .paused { try resume(record, engine: engine) }
        if record.isActive {
            let (signal, timeout) = try stopParameters(request, record)
            try stopContainer(record, signal: signal, timeout: timeout, engine: engine)
            record = try engine.currentContainer(record.id)
        }
        try startContainer(record, engine: engine)
        try engine.withStore { store in
            _ = try store.addEvent(type: "container", action: "restart", actorID: record.id,
                                   attributes: eventAttributes(record))
        }
        return Response(status: .noContent)
    }

    /// `signal` (else the container's StopSignal) and `t` (else its StopTimeout, else 10 s; -1:
    /// no limit).
    static func stopParameters(_ request: Request, _ record: ContainerRecord) throws -> (Int32, Int) {
        let options = try StoredContainer(record)
        let name = request.queryValue("signal").flatMap { $0.isEmpty ? nil : $0 } ?? options.stopSignal
        guard let signal = SignalNames.number(name) else {
            throw EngineError(.invalidArgument, "Invalid signal: \(name)")
        }
        var timeout = options.stopTimeout
        if let t = request.queryValue("t"), !t.isEmpty {
            guard let value = Int(t) else { throw EngineError(.invalidArgument, "invalid value for t: \(t)") }
            timeout = value
        }
        return (signal, timeout)
    }

    /// Sends the stop signal, waits up to `timeout` seconds for the monitor to record the exit,
    /// then kills. No restart policy applies to this exit.
    static func stopContainer(_ record: ContainerRecord, signal: Int32, timeout: Int, engine: Engine) throws {
        try engine.withStore { store in
            _ = try store.updateContainer(record.id) { $0.stopRequested = true }
            _ = try store.addEvent(type: "container", action: "kill", actorID: record.id,
                                   attributes: eventAttributes(record).merging(["signal": "\(signal)"]) { $1 })
        }
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
        try engine.withStore { store in
            _ = try store.addEvent(type: "container", action: "stop", actorID: record.id,
                                   attributes: eventAttributes(record))
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

    static func containerKill(_ request: Request, _ engine: Engine) throws -> Response {
        let record: ContainerRecord
        do {
            record = try engine.currentContainer(request.parameters["id"] ?? "")
        } catch let error as StoreError where error.code == .notFound {
            throw StoreError(.notFound, "Cannot kill container: \(request.parameters["id"] ?? ""): \(error.message)")
        }
        let name = request.queryValue("signal").flatMap { $0.isEmpty ? nil : $0 } ?? "SIGKILL"
        guard let signal = SignalNames.number(name) else {
            throw EngineError(.invalidArgument, "Invalid signal: \(name)")
        }
        guard record.isActive, record.pid > 0 else {
            throw EngineError(.conflict, "Cannot kill container: \(request.parameters["id"] ?? ""): container \(record.id) is not running")
        }
        let ending = signal == SIGKILL || signal == SignalNames.number((try? StoredContainer(record))?.stopSignal ?? "SIGTERM")
        try engine.withStore { store in
            if ending {
                _ = try store.updateContainer(record.id) { $0.stopRequested = true }
            }
            _ = try store.addEvent(type: "container", action: "kill", actorID: record.id,
                                   attributes: eventAttributes(record).merging(["signal": "\(signal)"]) { $1 })
        }
        guard Glibc.kill(record.pid, signal) == 0 || errno == ESRCH else {
            throw EngineError(.internal, "kill \(record.id): \(String(cString: strerror(errno)))")
        }
        if ending && record.state == .paused && engine.pausesWithFreezer {
            // As Docker: a paused container is resumed after SIGKILL or its stop signal, which a
            // frozen process gets only once thawed (cgroup v1).
            try resume(record, engine: engine)
        }
        if signal == SIGKILL {
            // The exit is the monitor's to record; answer once it has, as Docker does.
            _ = try waitStopped(record, engine: engine, milliseconds: 5_000)
        }
        return Response(status: .noContent)
    }

    // MARK: - pause, unpause

    static func containerPause(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        if record.state == .paused { throw EngineError(.conflict, "Container \(record.id) is already paused") }
        guard record.state == .running, record.pid > 0 else {
            throw EngineError(.conflict, "container \(record.id) is not running")
        }
        // As root the runtime gave the container a freezer cgroup: it freezes it. Rootless there
        // is none (no delegated cgroup v1 hierarchy): every process of the container stops.
        if engine.pausesWithFreezer {
            do {
                try engine.runtime.pause(record.id)
            } catch let error as EngineError {
                throw EngineError(.internal, "Cannot pause container \(record.id): \(error.message)")
            }
        } else {
            signalTree(record.pid, SIGSTOP)
        }
        try engine.withStore { store in
            _ = try store.updateContainer(record.id) { row in if row.state == .running { row.state = .paused } }
            _ = try store.addEvent(type: "container", action: "pause", actorID: record.id, attributes: eventAttributes(record))
        }
        return Response(status: .noContent)
    }

    static func containerUnpause(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        // moby answers this with a plain error: 500.
        guard record.state == .paused else { throw EngineError(.internal, "Container \(record.id) is not paused") }
        try resume(record, engine: engine)
        try engine.withStore { store in
            _ = try store.addEvent(type: "container", action: "unpause", actorID: record.id, attributes: eventAttributes(record))
        }
        return Response(status: .noContent)
    }

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

    // MARK: - rename, top

    static func containerRename(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        guard var name = request.queryValue("name"), !name.isEmpty else {
            throw EngineError(.invalidArgument, "Neither old nor new names may be empty")
        }
        guard ContainerLifecycle.isValidName(name) else {
            let shown = name.hasPrefix("/") ? name : "/" + name
            throw EngineError(.invalidArgument, "Error when allocating new name: Invalid container name (\(shown)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        if name.hasPrefix("/") { name.removeFirst() }
        guard name != record.name else {
            throw EngineError(.invalidArgument, "Renaming a container with the same name as its current name")
        }
        try engine.withStore { store in
            do {
                _ = try store.updateContainer(record.id) { $0.name = name }
            } catch let error as StoreError where error.code == .exists {
                throw StoreError(.exists, "Error when allocating new name: " + error.message)
            }
            _ = try store.addEvent(type: "container", action: "rename", actorID: record.id,
                                   attributes: eventAttributes(record).merging(["name": name, "oldName": "/" + record.name]) { $1 })
        }
        return Response(status: .noContent)
    }

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

    static func containerTop(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        guard record.isActive, record.pid > 0 else {
            throw EngineError(.conflict, "container \(record.id) is not running")
        }
        let arguments = request.queryValue("ps_args").flatMap { $0.isEmpty ? nil : $0 } ?? "-ef"
        let pids = Set(processTree(record.pid))
        let output = try ProcessOutput.run(["ps"] + arguments.split(separator: " ").map(String.init))
        let lines = output.split(separator: "\n").map(String.init)
        guard let header = lines.first else { throw EngineError(.internal, "ps printed nothing") }
        let titles = header.split(separator: " ").map(String.init)
        guard let pidColumn = titles.firstIndex(of: "PID") else {
            throw EngineError(.internal, "Couldn't find PID field in ps output")
        }
        var processes: [JSON] = []
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ", maxSplits: titles.count - 1).map(String.init)
            guard fields.count > pidColumn, let pid = Int32(fields[pidColumn]), pids.contains(pid) else { continue }
            processes.append(JSON(fields))
        }
        return .json(["Titles": JSON(titles), "Processes": .array(processes)])
    }

    // MARK: - remove, prune

    static func containerDelete(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        if record.isActive {
            guard request.queryBool("force") else {
                throw EngineError(.conflict, "cannot remove container \"/\(record.name)\": container is \(record.state == .paused ? "paused" : "running"): stop the container before removing or force remove")
            }
            try stopContainer(record, signal: SIGKILL, timeout: 0, engine: engine)
        }
        guard let current = try engine.withStore({ try $0.container(id: record.id) }) else {
            return Response(status: .noContent)   // removed meanwhile (AutoRemove)
        }
        try removeContainer(current, engine: engine, volumes: request.queryBool("v"))
        return Response(status: .noContent)
    }

    /// Removes a stopped container: its row goes to `removing`, then its files (in the user
    /// namespace when rootless: upper/ holds sub-id files), anonymous volumes with `volumes`,
    /// the row, and a `destroy` event.
    static func removeContainer(_ record: ContainerRecord, engine: Engine, volumes: Bool) throws {
        defer { engine.containerSignals.signal(record.id) }
        // A monitor prepared for a start goes first: it removes what it made.
        engine.preparedStarts.cancel(record.id)
        let anonymous = try engine.withStore { store -> [VolumeRecord] in
            _ = try store.updateContainer(record.id) { row in
                if row.state == .removing {
                    throw EngineError(.conflict, "removal of container \(record.id) is already in progress")
                }
                if row.isActive {
                    throw EngineError(.conflict, "cannot remove container \"/\(row.name)\": container is running: stop the container before removing or force remove")
                }
                row.state = .removing
            }
            return try store.volumes(of: record.id).filter(\.anonymous)
        }
        engine.attachments.cancelPending(containerID: record.id)
        let paths = ContainerPaths(engine: engine, id: record.id)
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
            if volumes {
                for volume in anonymous {
                    if (try? store.deleteVolume(name: volume.name)) != nil {
                        FileSystem.removeTree(engine.config.skiffRoot + "/volumes/" + volume.name)
                    }
                }
            }
            _ = try store.addEvent(type: "container", action: "destroy", actorID: record.id,
                                   attributes: eventAttributes(record))
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

    static func containerPrune(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["until", "label", "label!"])
        let until = try filters.values("until").first.map(Filters.parseUntil)
        var deleted: [JSON] = []
        let records = try engine.withStore { store in try store.containers().map { try engine.reconcile($0, store: store) } }
        for record in records where !record.isActive && record.state != .removing {
            if let until, record.created / 1_000_000_000 >= until { continue }
            let labels = record.labels
            guard filters.labelsMatch(labels) else { continue }
            do {
                try removeContainer(record, engine: engine, volumes: false)
                deleted.append(JSON(record.id))
            } catch {
                continue
            }
        }
        return .json(["ContainersDeleted": deleted.isEmpty ? .null : .array(deleted), "SpaceReclaimed": 0])
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

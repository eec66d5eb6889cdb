import MonitorProtocol
import Platform
import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Exec instances (docs/exec.md): the service records them and spawns one supervisor per
/// started exec (`skiff-monitor --exec`), which runs the process in the container and records
/// its end in the Store. Moby's daemon/exec.go is the model for the answers.
extension Engine {
    /// `POST /containers/{id}/exec`: checks the container runs, records the exec, and the
    /// `exec_create` event. Returns the exec id.
    func createExec(_ name: String, _ config: ExecConfig) throws -> String {
        // moby's router refuses an empty command before it looks for the container.
        guard !config.cmd.isEmpty else { throw EngineError(.invalidArgument, "No exec command specified") }
        let container = try runningContainerForExec(name)
        if !config.detachKeys.isEmpty {
            do {
                _ = try DetachKeys(parsing: config.detachKeys)
            } catch {
                throw EngineError(.invalidArgument, "Invalid escape keys (\(config.detachKeys)) provided")
            }
        }
        let id = ContainerNames.newID()
        let record = ExecRecord(id: id, containerID: container.id, created: Store.nowNanos(), config: config.json.bytes)
        try withStore { store in try store.addExec(record) }
        ContainerEvents.record(self, ContainerEvents.Actor(container), action: "exec_create: \(config.commandLine)",
                               attributes: ["execID": id])
        return id
    }

    /// The container by the name or id a client gave, running and not paused (moby's
    /// `getActiveContainer`).
    func runningContainerForExec(_ name: String) throws -> ContainerRecord {
        let container = try currentContainer(name)
        switch container.state {
        case .paused:
            throw EngineError(.conflict, "Container \(name) is paused, unpause the container before exec")
        case .restarting:
            throw EngineError(.conflict, "Container \(container.id) is restarting, wait until the container is running")
        case .running where Engine.isContainerRunning(container):
            return container
        default:
            throw EngineError(.conflict, "Container \(container.id) is not running")
        }
    }

    /// The exec with this id (exactly, as moby's exec store), forgetting it when it expired or
    /// its container no longer runs.
    func execInstance(_ id: String) throws -> (exec: ExecRecord, container: ContainerRecord) {
        let notFound = EngineError(.notFound, "No such exec instance: \(id)")
        guard Store.isContainerID(id), let exec = try withStore({ try $0.exec(id: id) }) else { throw notFound }
        let expiry = ExecExpiry(ended: exec.state == .exited, finished: exec.finished)
        if expiry.isExpired(now: Store.nowNanos()) {
            _ = try? withStore { try $0.deleteExec(id: id) }
            throw notFound
        }
        let container: ContainerRecord
        do {
            container = try currentContainer(exec.containerID)
        } catch {
            throw notFound
        }
        guard container.state == .running || container.state == .paused else {
            // moby unregisters a container's execs when it stops.
            _ = try? withStore { try $0.deleteExecs(containerID: container.id) }
            throw notFound
        }
        return (reconciled(exec, container: container), container)
    }

    /// A running exec whose supervisor is gone (killed; it alone records the exit) ends with
    /// exit code -1, "unknown", and an `exec_die` event, as a container whose monitor died is
    /// reconciled. A look that failed for want of a resource concludes nothing.
    private func reconciled(_ exec: ExecRecord, container: ContainerRecord) -> ExecRecord {
        guard exec.state == .running, exec.supervisorPID > 0,
              ProcessStat.probe(exec.supervisorPID, startTime: exec.supervisorStartTime) == .gone else { return exec }
        let unknownExitCode: Int32 = -1
        return (try? withStore { store -> ExecRecord in
            var endedHere = false
            let ended = try store.updateExec(exec.id) { r in
                guard r.state == .running, r.supervisorPID == exec.supervisorPID,
                      r.supervisorStartTime == exec.supervisorStartTime else { return }
                endedHere = true
                r.state = .exited
                r.exitCode = unknownExitCode
                r.pid = 0
                r.finished = Store.nowNanos()
            }
            if endedHere {
                try store.addEvent(type: "container", action: "exec_die", actorID: container.id,
                                   attributes: container.eventAttributes(["execID": exec.id,
                                                                          "exitCode": String(unknownExitCode)]))
            }
            return ended
        }) ?? exec
    }

    /// `GET /exec/{id}/json`, as moby's `ExecInspect`.
    func inspectExec(_ id: String) throws -> JSON {
        let (exec, _) = try execInstance(id)
        let config = try ExecConfig(stored: exec.config)
        let expiry = ExecExpiry(ended: exec.state == .exited, finished: exec.finished)
        var process: [JSON.Member] = [
            JSON.Member("tty", .bool(config.tty)),
            JSON.Member("entrypoint", .string(config.cmd.first ?? "")),
            JSON.Member("arguments", .array(config.cmd.dropFirst().map { .string($0) })),
            JSON.Member("privileged", .bool(config.privileged)),
        ]
        if !config.user.isEmpty { process.append(JSON.Member("user", .string(config.user))) }
        return .object([
            JSON.Member("ID", .string(exec.id)),
            JSON.Member("Running", .bool(exec.state == .running)),
            JSON.Member("ExitCode", exec.exitCode.map { .int(Int64($0)) } ?? .null),
            JSON.Member("ProcessConfig", .object(process)),
            JSON.Member("OpenStdin", .bool(config.attachStdin)),
            JSON.Member("OpenStderr", .bool(config.attachStderr)),
            JSON.Member("OpenStdout", .bool(config.attachStdout)),
            JSON.Member("CanRemove", .bool(expiry.canRemove(now: Store.nowNanos()))),
            JSON.Member("ContainerID", .string(exec.containerID)),
            JSON.Member("DetachKeys", .string(config.detachKeys)),
            JSON.Member("Pid", .int(Int64(exec.pid))),
        ])
    }

    /// `<run>/exec/<id>`: the supervisor's sockets.
    func execRunDirectory(_ id: String) -> String {
        config.runtimeDirectoryPath + "/exec/" + id
    }

    /// The first half of `POST /exec/{id}/start`: the exec is claimed (`running`; a second
    /// start is a conflict, as moby's), `exec_start` recorded, and its supervisor's arguments
    /// made. A user the image does not know ends the exec here (126), as runc's does: the
    /// failure comes back to be written into the stream. `consoleSize` (the start's, `[height,
    /// width]`) overrides the create's, as moby's; with a TTY the pty has that size from the
    /// start (0s or values past 65535 leave the kernel's).
    func prepareExecStart(_ id: String, consoleSize: [UInt32]?) throws -> PreparedExec {
        let (exec, container) = try execInstance(id)
        _ = try runningContainerForExec(container.id)
        let config = try ExecConfig(stored: exec.config)
        _ = try withStore { store in
            try store.updateExec(id) { r in
                switch r.state {
                case .running: throw EngineError(.conflict, "Error: Exec command \(id) is already running")
                case .exited: throw EngineError(.conflict, "Error: Exec command \(id) has already run")
                case .created: r.state = .running
                }
            }
        }
        ContainerEvents.record(self, ContainerEvents.Actor(container), action: "exec_start: \(config.commandLine)",
                               attributes: ["execID": id])
        var arguments = ExecArguments(execID: id, containerID: container.id, runDirectory: execRunDirectory(id),
                                      runtimeRoot: ContainerPaths(engine: self, id: container.id).runtimeRoot,
                                      store: self.config.skiffRoot, args: config.cmd)
        arguments.tty = config.tty
        arguments.stdin = config.attachStdin
        arguments.privileged = config.privileged
        arguments.env = config.env
        if !config.workingDir.isEmpty { arguments.cwd = config.workingDir }
        if config.tty, let size = consoleSize ?? config.consoleSize, size.count == 2,
           let rows = UInt16(exactly: size[0]), let columns = UInt16(exactly: size[1]), rows > 0, columns > 0 {
            arguments.consoleSize = (rows, columns)
        }
        var failure: String?
        if !config.user.isEmpty {
            do {
                let stored = try StoredContainer(container)
                let layersRoot = self.config.skiffRoot + "/layers/"
                // The container's own changes first (its upper directory): a user it added to
                // its /etc/passwd is found, as Docker looks in the running container's files.
                let layers = [self.config.skiffRoot + "/containers/" + container.id + "/upper"]
                    + (try withStore { try $0.layerChainIDs(imageID: container.imageID) })
                    .reversed().map { layersRoot + ($0.hasPrefix("sha256:") ? String($0.dropFirst(7)) : $0) + "/diff" }
                let user = try ImageUser.resolve(config.user, layers: layers,
                                                 groupAdd: stored.strings(stored.hostConfig["GroupAdd"]))
                arguments.user = (user.uid, user.gid, user.additionalGids.filter { $0 != user.gid })
            } catch {
                failure = (error as? EngineError)?.message ?? "\(error)"
            }
        }
        if failure != nil { recordExecEnd(id, code: 126, container: container) }
        return PreparedExec(exec: exec, container: container, config: config, arguments: arguments, failure: failure)
    }

    /// Ends an exec that never ran a process (its supervisor did not, or could not, say so).
    func recordExecEnd(_ id: String, code: Int32, container: ContainerRecord) {
        _ = try? withStore { store in
            try store.updateExec(id) { r in
                guard r.state != .exited else { return }
                r.state = .exited
                r.exitCode = code
                r.pid = 0
                r.finished = Store.nowNanos()
            }
        }
    }

    /// Spawns the exec's supervisor and waits until it listens (`created`). A supervisor that
    /// cannot start ends the exec (126).
    func launchExec(_ prepared: PreparedExec) throws -> ExecLaunch {
        let diagnostics = ContainerPaths(engine: self, id: prepared.container.id).diagnostics
        let channel: ServiceChannel
        do {
            channel = ServiceChannel(fd: try MonitorLauncher.spawn([MonitorLauncher.path] + prepared.arguments.arguments,
                                                                   diagnosticsPath: diagnostics))
            _ = try channel.waitCreated(timeout: 10_000)
        } catch {
            recordExecEnd(prepared.exec.id, code: 126, container: prepared.container)
            throw EngineError(.internal, "exec \(prepared.exec.id): starting its supervisor: \(error)")
        }
        return ExecLaunch(channel: channel)
    }

    /// `POST /exec/{id}/resize`: once the process runs (moby waits for it to start), the
    /// supervisor resizes its terminal.
    func resizeExec(_ id: String, rows: UInt32, columns: UInt32) throws {
        let gone = EngineError(.notFound, "no such exec")
        var (exec, _) = try execInstance(id)
        var waited = 0
        while exec.state != .exited && exec.pid == 0 && waited < 200 {
            usleep(10_000)
            waited += 1
            guard let current = try withStore({ try $0.exec(id: id) }) else { throw gone }
            exec = current
        }
        guard exec.state == .running, exec.pid != 0 else { throw gone }
        guard let rows = UInt16(exactly: rows), let columns = UInt16(exactly: columns) else { return }
        do {
            let fd = try MonitorConnection.connect(directory: execRunDirectory(id), name: ContainerPaths.controlName)
            defer { close(fd) }
            guard MonitorConnection.writeAll(fd, ControlCommand.resize(rows: rows, columns: columns).line) else { throw gone }
        } catch {
            throw gone
        }
    }
}

/// An exec claimed and ready for its supervisor.
struct PreparedExec: Sendable {
    var exec: ExecRecord
    var container: ContainerRecord
    var config: ExecConfig
    var arguments: ExecArguments
    /// Why it cannot run (its user): written into the stream instead.
    var failure: String?
}

/// A spawned exec supervisor that listens and waits for `start`. Closing the channel without
/// `start` makes it give up (the exec ends with 126).
final class ExecLaunch: Sendable {
    private let channel: ServiceChannel
    private let closed = Mutex(false)

    init(channel: ServiceChannel) {
        self.channel = channel
    }

    /// Says `start` and waits until the process runs; throws the supervisor's failure (it has
    /// recorded it, and written it to the attach clients).
    func start() throws(SyncError) {
        try channel.start(timeout: 60_000)
    }

    func finish() {
        let first = closed.withLock { done in
            defer { done = true }
            return !done
        }
        if first { channel.close() }
    }

    deinit { finish() }
}

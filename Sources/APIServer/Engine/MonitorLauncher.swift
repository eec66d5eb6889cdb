import CLinux
import MonitorProtocol
import Platform
import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Starts a container's monitor (`skiff-monitor`, installed beside `skiff`) and talks the sync
/// protocol of docs/containers.md with it through a `ServiceChannel`: `created <pid>`, then
/// `start`, then `started` or the monitor's `StartFailure`.
struct MonitorLauncher {
    static var path: String { Engine.executableBeside("skiff-monitor") }

    let sync: ServiceChannel

    /// Hands the container to the warm monitor (`WarmMonitors`) when one waits, else spawns the
    /// monitor in a session of its own and returns once its first process has exited (the monitor
    /// carries on in a child of it, nobody's child but init's).
    init(engine: Engine, record: ContainerRecord, options: StoredContainer, paths: ContainerPaths) throws {
        var arguments = ["--id", record.id, "--bundle", paths.bundle, "--run-dir", paths.run,
                         "--runtime-root", paths.runtimeRoot, "--store", engine.config.skiffRoot,
                         "--image-worker", ImageWorker.path, "--restart", options.restartArgument]
        if options.tty { arguments.append("--tty") }
        if options.openStdin { arguments.append("--stdin") }
        if options.stdinOnce { arguments.append("--stdin-once") }
        if options.autoRemove { arguments.append("--auto-remove") }
        if let health = options.healthSchedule { arguments += ["--health", health.argument] }
        if options.networkMode == "bridge" { arguments += try ContainerNetwork.monitorArguments(engine, options) }
        let endpoints = try engine.monitorEndpoints(starting: record, networkMode: options.networkMode)
        if !endpoints.isEmpty {
            // The keeper's uplink, should this monitor make the keeper (docs/networking.md).
            arguments += ["--endpoints", NetworkEndpoint.argument(endpoints), "--uplink", try ContainerNetwork.userMode(engine.config).argument]
        }
        if let warm = engine.warmMonitors.take(engine: engine) {
            let channel = ServiceChannel(fd: warm)
            do {
                try channel.sendArguments(WarmArguments(diagnosticsPath: paths.diagnostics, arguments: arguments))
                sync = channel
                return
            } catch {
                channel.close()   // it went away: a monitor of its own, then
            }
        }
        sync = ServiceChannel(fd: try MonitorLauncher.spawn([MonitorLauncher.path] + arguments,
                                                            diagnosticsPath: paths.diagnostics))
    }

    /// Spawns `argv` (the monitor) with fds 0-2 on /dev/null (2: `diagnosticsPath` when given)
    /// and fd 3 its end of a new sync socket, in a session of its own; returns the service's end
    /// once the first process has exited.
    static func spawn(_ argv: [String], diagnosticsPath: String?) throws -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw EngineError(.internal, "starting the monitor: socketpair: \(String(cString: strerror(errno)))")
        }
        defer { close(fds[1]) }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        // The monitor's own diagnostics go to a file beside the log (it has no terminal).
        let diagnostics = diagnosticsPath.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) } ?? -1
        defer { if diagnostics >= 0 { close(diagnostics) } }

        let child: pid_t
        do {
            child = try Spawn.start(argv, descriptors: [null, null, diagnostics >= 0 ? diagnostics : null, fds[1]],
                                    newSession: true)
        } catch {
            close(fds[0])
            throw error
        }
        _ = Spawn.wait(child)
        return fds[0]
    }

    func finish() { sync.close() }

    /// Gives up a monitor that waits for `start`: it sees the end of the sync socket, kills the
    /// waiting process and removes what it made. Returns when it has exited (its end of the
    /// socket closes), or after 10 s without a word from it.
    func abandon() {
        sync.abandon(timeout: 10_000)
        finish()
    }

    /// Waits for `created <pid>`; throws the monitor's failure.
    func waitCreated() throws -> Int32 {
        do {
            return try sync.waitCreated(timeout: 60_000)
        } catch {
            throw MonitorLauncher.failure(error, "the container's monitor exited before the container was created")
        }
    }

    /// Sends `start` and waits for `started`; throws the monitor's failure.
    func start() throws {
        do {
            try sync.start(timeout: 60_000)
        } catch {
            throw MonitorLauncher.failure(error, "the container's monitor exited while starting the container")
        }
    }

    /// The monitor's report, or what the service saw (`gone`: it closed its end, or said nothing
    /// within the timeout).
    static func failure(_ error: SyncError, _ gone: String) -> StartFailure {
        switch error {
        case .failed(let failure): return failure
        case .closed, .timedOut: return StartFailure(.monitor, gone)
        case .system(_, let errno): return StartFailure(.monitor, errno: errno, "\(error)")
        case .unexpected: return StartFailure(.monitor, "\(error)")
        }
    }
}

/// One monitor spawned ahead of its container (`skiff-monitor --warm`), so that a create or a
/// start hands it the container's arguments instead of waiting for a new process to start
/// (about 2 ms: the exec, Swift's start-up, the fork that detaches it). The first container
/// spawns one; each one taken is replaced in the background. It ends with the service (the
/// sync socket's end).
final class WarmMonitors: Sendable {
    private let ready = Mutex<Int32?>(nil)
    private let spawning = Mutex(false)

    /// The sync socket of a waiting warm monitor, if one is ready; a replacement is started.
    func take(engine: Engine) -> Int32? {
        let fd = ready.withLock { slot -> Int32? in
            defer { slot = nil }
            return slot
        }
        replenish(engine: engine)
        return fd
    }

    private func replenish(engine: Engine) {
        guard !engine.isStopping, spawning.withLock({ busy in
            defer { busy = true }
            return !busy
        }) else { return }
        engine.longPool.submit { [self] active in
            defer { spawning.withLock { $0 = false } }
            guard active, !engine.isStopping,
                  let fd = try? MonitorLauncher.spawn([MonitorLauncher.path, "--warm"], diagnosticsPath: nil) else { return }
            let extra = ready.withLock { slot -> Int32? in
                if slot == nil {
                    slot = fd
                    return nil
                }
                return fd
            }
            if let extra { _ = Glibc.close(extra) }
        }
    }
}

import CLinux
import Platform
import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Starts a container's monitor (`skiff-monitor`, installed beside `skiff`) and talks the sync
/// protocol of docs/containers.md with it: `created <pid>`, then `start`, then `started` or
/// `error <message>`.
struct MonitorLauncher {
    static var path: String { Engine.executableBeside("skiff-monitor") }

    /// Why a start failed: the runtime's or the monitor's message.
    struct Failure: Error {
        var message: String
    }

    let sync: Int32

    /// Hands the container to the warm monitor (`WarmMonitors`) when one waits, else spawns the
    /// monitor in a session of its own and returns once its first process has exited (the monitor
    /// carries on in a child of it, nobody's child but init's).
    init(engine: Engine, record: ContainerRecord, options: StoredContainer, paths: ContainerPaths) throws {
        var argv = [MonitorLauncher.path, "--id", record.id, "--bundle", paths.bundle, "--run-dir", paths.run,
                    "--runtime-root", paths.runtimeRoot, "--store", engine.config.skiffRoot,
                    "--image-worker", ImageWorker.path, "--restart", options.restartArgument]
        if options.tty { argv.append("--tty") }
        if options.openStdin { argv.append("--stdin") }
        if options.stdinOnce { argv.append("--stdin-once") }
        if options.autoRemove { argv.append("--auto-remove") }
        let diagnosticsPath = paths.bundle + "/monitor.log"
        if let warm = engine.warmMonitors.take(engine: engine) {
            var message = Array("args\0\(diagnosticsPath)".utf8)
            for argument in argv.dropFirst() { message += [0] + Array(argument.utf8) }
            if message.withUnsafeBytes({ Glibc.send(warm, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == message.count {
                sync = warm
                return
            }
            _ = Glibc.close(warm)   // it went away: a monitor of its own, then
        }
        sync = try MonitorLauncher.spawn(argv, diagnosticsPath: diagnosticsPath)
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
        var ignored: Int32 = 0
        while waitpid(child, &ignored, 0) < 0 && errno == EINTR {}
        return fds[0]
    }

    func finish() { _ = Glibc.close(sync) }

    /// Gives up a monitor that waits for `start`: it sees the end of the sync socket, kills the
    /// waiting process and removes what it made. Returns when it has exited (its end of the
    /// socket closes), or after 10 s.
    func abandon() {
        _ = shutdown(sync, Int32(SHUT_WR))
        while receive(timeout: 10_000) != nil {}
        finish()
    }

    /// Reads one message; nil at EOF (the monitor exited) or after `timeout` milliseconds.
    func receive(timeout: Int32) -> String? {
        var poller = pollfd(fd: sync, events: Int16(POLLIN), revents: 0)
        while true {
            let n = poll(&poller, 1, timeout)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            break
        }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { recv(sync, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    func send(_ message: String) -> Bool {
        let bytes = Array(message.utf8)
        return bytes.withUnsafeBytes { Glibc.send(sync, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Waits for `created <pid>`; throws the monitor's error.
    func waitCreated() throws -> Int32 {
        guard let message = receive(timeout: 60_000) else {
            throw Failure(message: "the container's monitor exited before the container was created")
        }
        if message.hasPrefix("created "), let pid = Int32(message.dropFirst(8)) { return pid }
        throw Failure(message: MonitorLauncher.errorText(message))
    }

    /// Sends `start` and waits for `started`.
    func start() throws {
        guard send("start") else { throw Failure(message: "the container's monitor went away before start") }
        guard let message = receive(timeout: 60_000) else {
            throw Failure(message: "the container's monitor exited while starting the container")
        }
        guard message == "started" else { throw Failure(message: MonitorLauncher.errorText(message)) }
    }

    static func errorText(_ message: String) -> String {
        message.hasPrefix("error ") ? String(message.dropFirst(6)) : message
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

import CLinux
import CRelay
import CRuntime
import MonitorProtocol
import Platform
import Runtime
import Store

#if canImport(Glibc)
import Glibc
#endif

/// One exec's supervisor (`skiff-monitor --exec`, docs/exec.md): spawned by the service for
/// `POST /exec/{id}/start`, detached like a container's monitor. It listens on the exec's attach
/// and control sockets, waits for `start` (the client's attach connection is queued by then),
/// starts the process in the container through the Runtime (`Container.startExec`), relays it
/// with the container monitor's loop (CRelay, no log), and records its pid and its exit code in
/// the Store itself: an exit is recorded whether or not the service still runs.
///
/// Sync protocol (fd 3, as the monitor's): `created <own pid>` once listening, then `start`,
/// then `started` or the failure (also written to the attach clients, as Docker writes a start
/// error into the hijacked stream).
public final class ExecSupervisor {
    let arguments: ExecArguments
    var sync: MonitorChannel
    let loop: UnsafeMutablePointer<relay>
    let container: Container

    init(arguments: ExecArguments, sync: MonitorChannel, signals: Int32) throws {
        self.arguments = arguments
        self.sync = sync
        do {
            container = try Container(id: arguments.containerID, root: arguments.runtimeRoot)
        } catch {
            throw StartFailure(.monitor, "\(error)")
        }
        loop = UnsafeMutablePointer<relay>.allocate(capacity: 1)
        relay_init(loop)
        loop.pointee.signals = signals
        loop.pointee.log = -1
        loop.pointee.tty = arguments.tty
        loop.pointee.stdin_open = arguments.stdin
        // The client's end of stdin closes the process's stdin; its output goes on (moby's exec).
        loop.pointee.stdin_once = true
    }

    deinit {
        loop.deallocate()
    }

    /// Runs the supervisor in this (already detached) process; returns the exit status.
    public static func main(arguments: [String], sync: MonitorChannel) -> Int32 {
        let parsed: ExecArguments
        do {
            parsed = try ExecArguments(parsing: arguments)
        } catch {
            sync.failed(error)
            return 2
        }
        _ = skiff_monitor_set_subreaper()
        skiff_monitor_ignore_sigpipe()
        let wanted: [Int32] = [SIGCHLD]
        let signals = skiff_monitor_signalfd(wanted, Int32(wanted.count))
        guard signals >= 0 else {
            sync.failed(StartFailure(.monitor, errno: -signals, "signalfd: \(errnoText(-signals))"))
            return 1
        }
        let supervisor: ExecSupervisor
        do {
            supervisor = try ExecSupervisor(arguments: parsed, sync: sync, signals: signals)
        } catch let failure as StartFailure {
            sync.failed(failure)
            return 1
        } catch {
            sync.failed(StartFailure(.monitor, "\(error)"))
            return 1
        }
        return supervisor.supervise()
    }

    func supervise() -> Int32 {
        do {
            try FileSystem.makeDirectories(arguments.runDirectory, mode: 0o700)
            loop.pointee.attach_listener = try Listener.listen(directory: arguments.runDirectory,
                                                               name: ContainerPaths.attachName)
            loop.pointee.control_listener = try Listener.listen(directory: arguments.runDirectory,
                                                                name: ContainerPaths.controlName)
        } catch {
            fail(StartFailure(.monitor, "\(error)"), code: 126)
            return 1
        }
        sync.created(pid: getpid())
        guard (try? sync.waitForStart()) != nil else {
            // The service went away before the start: nothing runs, and the exec says so.
            fail(StartFailure(.monitor, "the service went away before the exec started"), code: 126)
            return 1
        }
        relay_accept_queued(loop)

        let process: Container.ExecProcess
        do {
            process = try startProcess()
        } catch {
            fail(error)
            return 1
        }
        loop.pointee.pid = process.pid
        if let master = process.terminal {
            _ = skiff_monitor_set_cloexec(master)
            _ = skiff_monitor_set_nonblocking(master)
            loop.pointee.terminal = master
        }
        recordRunning(pid: process.pid)
        sync.started()
        close(sync.fd)
        sync = MonitorChannel(fd: -1)

        let status = relay_run(loop)
        recordExit(code: ExitFile.exitCode(waitStatus: status))
        relay_finish(loop)
        finish()
        return 0
    }

    /// The process's stdio (pipes, or the pty the runtime makes), then the process itself.
    func startProcess() throws -> Container.ExecProcess {
        var options = Container.ExecOptions(args: arguments.args)
        options.env = arguments.env
        options.cwd = arguments.cwd
        if let user = arguments.user {
            options.user = (user.uid, user.gid)
            options.additionalGids = user.additionalGids
        }
        options.terminal = arguments.tty
        options.consoleSize = arguments.consoleSize
        options.privileged = arguments.privileged
        options.containerRlimits = true
        options.explainDenials = true
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        if !arguments.tty {
            let null = try Sys.openDevNull()
            childEnds.append(null)
            var io = ProcessIO(stdin: null, stdout: null, stderr: null)
            if arguments.stdin {
                let p = try Sys.pipe()
                childEnds.append(p.read)
                io.stdin = p.read
                loop.pointee.stdin_fd = p.write
            }
            let out = try Sys.pipe()
            childEnds.append(out.write)
            io.stdout = out.write
            loop.pointee.stdout_fd = out.read
            let err = try Sys.pipe()
            childEnds.append(err.write)
            io.stderr = err.write
            loop.pointee.stderr_fd = err.read
            options.stdio = io
            for fd in [loop.pointee.stdin_fd, loop.pointee.stdout_fd, loop.pointee.stderr_fd] where fd >= 0 {
                _ = skiff_monitor_set_nonblocking(fd)
            }
        }
        do {
            let process = try container.startExec(options, takeListener: { [self] in handOver(listener: $0) },
                                                  serveNotification: { [self] in serveOwn(listener: $0) })
            if let listener = process.seccompListener, loop.pointee.notify.fd != listener { adoptOwn(listener: listener) }
            return process
        } catch {
            // The runtime closed a listener it had kept: not this loop's to close again.
            loop.pointee.notify.fd = -1
            relay_close_run(loop)
            throw error
        }
    }

    // MARK: - Endings

    /// The process could not start: Docker's exit code (127 not found, 126 otherwise), the
    /// message to the attach clients and the service, and the record.
    func fail(_ error: any Error) {
        var code: Int32 = 126
        var message = "\(error)"
        var step = StartFailure.Step.exec
        var errno: Int32 = 0
        if let error = error as? RuntimeError {
            message = error.message(withoutContext: "exec \(arguments.containerID)")
            errno = error.errno ?? 0
            // 127 only for a program that is not there (Docker's rule for run); 126 for the rest.
            if error.childStep == Int32(SKIFF_STEP_EXEC.rawValue) && errno == ENOENT { code = 127 }
            if error.childStep == Int32(SKIFF_STEP_CWD.rawValue) {
                // runc's words for a working directory it cannot enter.
                message = "chdir to cwd (\"\(arguments.cwd ?? "/")\") set in config.json failed: "
                    + String(cString: strerror(errno)).lowercased()
            }
            if error.childStep == nil { step = .start }
        } else if let error = error as? MonitorError {
            message = error.message
            step = .monitor
        }
        fail(StartFailure(step, errno: errno, message), code: code)
    }

    func fail(_ failure: StartFailure, code: Int32) {
        // Docker's words for a start the runtime refused.
        let text = failure.step == .monitor ? failure.message
            : "OCI runtime exec failed: exec failed: unable to start container process: \(failure.message): unknown"
        recordExit(code: code)
        tellClients(text + "\r\n")
        if sync.fd >= 0 {
            sync.failed(StartFailure(failure.step, errno: failure.errno, text))
            close(sync.fd)
            sync = MonitorChannel(fd: -1)
        }
        relay_finish(loop)
        finish()
    }

    /// Writes `text` to every attach client that takes output (a stdout frame without a TTY).
    func tellClients(_ text: String) {
        var bytes = Array(text.utf8)
        if !arguments.tty {
            let n = UInt32(bytes.count)
            bytes = [1, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + bytes
        }
        for i in 0..<loop.pointee.client_count {
            let fd = relay_client_fd(loop, i)
            let mask = relay_client_mask(loop, i)
            guard fd >= 0, mask != Int32(MASK_UNKNOWN), mask & (Int32(MASK_STDOUT) | Int32(MASK_STDERR)) != 0 else { continue }
            // The client sockets are non-blocking: a client too slow for one line loses it.
            bytes.withUnsafeBytes { raw in _ = skiff_monitor_send(fd, raw.baseAddress, raw.count) }
        }
    }

    func finish() {
        close(loop.pointee.attach_listener)
        close(loop.pointee.control_listener)
        loop.pointee.attach_listener = -1
        loop.pointee.control_listener = -1
        relay_close_controls(loop)
        FileSystem.removeTree(arguments.runDirectory)
    }

    // MARK: - The Store

    func withStore(_ body: (Store) throws -> Void) {
        guard let store = try? Store(root: arguments.store) else { return }
        try? body(store)
    }

    func recordRunning(pid: Int32) {
        let me = getpid()
        let start = Sys.startTime(of: me)
        withStore { store in
            try store.updateExec(arguments.execID) { r in
                r.state = .running
                r.pid = pid
                r.supervisorPID = me
                r.supervisorStartTime = start
            }
        }
    }

    /// The exit, and Docker's `exec_die` event (execID and exitCode with the container's
    /// attributes).
    func recordExit(code: Int32) {
        let finished = Sys.nowNanos()
        withStore { store in
            try store.updateExec(arguments.execID) { r in
                r.state = .exited
                r.exitCode = code
                r.pid = 0
                r.finished = finished
            }
            if let record = try store.container(id: arguments.containerID) {
                try? recordDenialEvents(store, record)
                try store.addEvent(type: "container", action: "exec_die", actorID: arguments.containerID,
                                   attributes: record.eventAttributes(["execID": arguments.execID,
                                                                       "exitCode": String(code)]))
            }
        }
    }
}

import CLinux
import CRelay
import ContainerLogs
import MonitorProtocol
import Platform
import Runtime
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The per-container supervisor (conmon's role): the container's parent. It creates and starts
/// the container through the Runtime, relays its output to the log file and to attach clients,
/// feeds it stdin, resizes its terminal, and records how it ended (exit file, Store), then
/// restarts or removes it as asked. One thread, one poll loop. While the container runs, the
/// poll loop is skiff-relay's (C, a fraction of this program's memory), which this process execs
/// and which execs it back when the container's process exits (`Monitor+Handover.swift`).
public final class Monitor {
    var options: MonitorOptions
    let container: Container
    /// Our end of the sync socket (fd 3) until `started` or `error`; fd -1 after.
    var sync: MonitorChannel
    let log: LogWriter
    let signals: Int32
    /// The relay loop's state (CRelay, skiff-relay's too): the listening sockets, the attach
    /// and control connections, the current run's process and descriptors.
    let loop: UnsafeMutablePointer<relay>
    /// Restarts done by this monitor (on-failure's limit counts these).
    var restarts = 0
    var backoff = RestartBackoff()
    /// The Store while writes follow one another (`withStore`, `closeStore`).
    var store: Store?
    /// The container's labels, for its events (they do not change): read once.
    var labels: [String: String]?
    /// The read end of the network helper's ready pipe until it said ready (`Monitor+Network`).
    var networkReadyFD: Int32 = -1
    /// pasta's namespaces (network, user) from create until `start` starts it (`Monitor+Pasta`).
    var pastaNamespaces: [Int32] = []
    /// What the published-port forwarder will need (the helper's exit pipe, the container's network
    /// and user namespaces) from create until `start` starts it (`Monitor+PortForwarder`).
    var forwarderSource: [Int32] = []
    /// The network namespace keeper's connection while a run's endpoints are made (`Monitor+UserNetworks`).
    var networkKeeper = NetworkKeeperConnection()
    /// The network helper of the run that ended, killed and not yet reaped (`Monitor+Network`).
    var dyingHelper: pid_t = -1

    init(options: MonitorOptions, sync: MonitorChannel, signals: Int32) throws {
        self.options = options
        self.sync = sync
        self.signals = signals
        do {
            container = try Container(id: options.id, root: options.runtimeRoot)
        } catch {
            throw MonitorError("\(error)")
        }
        do {
            log = try LogWriter(path: options.logPath)
        } catch {
            throw MonitorError("\(error)")
        }
        loop = UnsafeMutablePointer<relay>.allocate(capacity: 1)
        relay_init(loop)
        loop.pointee.signals = signals
        loop.pointee.log = log.descriptor
        loop.pointee.tty = options.tty
        loop.pointee.stdin_open = options.stdin
        loop.pointee.stdin_once = options.stdinOnce
    }

    deinit {
        loop.deallocate()
    }

    // MARK: - Entry point

    /// A warm monitor (`skiff-monitor --warm`, spawned before its container): gets this
    /// program's usual start-up work done, then waits for its arguments on `sync`
    /// (`WarmArguments`). Its standard error then goes to the diagnostics file. nil at EOF (the
    /// service went away, or stops: nothing to do) or for anything else.
    public static func awaitArguments(sync: MonitorChannel) -> [String]? {
        warmUp()
        guard let given = try? sync.waitForArguments() else { return nil }
        let diagnostics = open(given.diagnosticsPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if diagnostics >= 0 {
            _ = dup2(diagnostics, 2)
            close(diagnostics)
        }
        return given.arguments
    }

    /// What every monitor does first, done while a warm one waits: the option parser's and the
    /// JSON reader's first use.
    static func warmUp() {
        _ = try? MonitorOptions(parsing: ["--id", String(repeating: "0", count: 64), "--bundle", "/", "--run-dir", "/",
                                          "--runtime-root", "/", "--store", "/", "--restart", "no"])
        _ = try? JSONParser.parse(Array(#"{"a":[1,"b",true,null,{"c":1.5}]}"#.utf8))
    }

    /// Runs the monitor in this (already detached) process; returns the exit status.
    public static func main(arguments: [String], sync: MonitorChannel) -> Int32 {
        let options: MonitorOptions
        do {
            options = try MonitorOptions(parsing: arguments)
        } catch {
            sync.failed(StartFailure(.monitor, error.message))
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
        let monitor: Monitor
        do {
            monitor = try Monitor(options: options, sync: sync, signals: signals)
        } catch {
            sync.failed(StartFailure(.monitor, "\(error)"))
            return 1
        }
        if let handBack = options.handBack { return monitor.resume(handBack) }
        return monitor.supervise()
    }

    /// The whole life: create, handshake, start, relay, record, restart or remove.
    func supervise() -> Int32 {
        do {
            try FileSystem.makeDirectories(options.runDirectory, mode: 0o700)
            unlink(options.exitPath)
            loop.pointee.attach_listener = try Listener.listen(directory: options.runDirectory,
                                                               name: ContainerPaths.attachName)
            loop.pointee.control_listener = try Listener.listen(directory: options.runDirectory,
                                                                name: ContainerPaths.controlName)
        } catch {
            reportFailure(StartFailure(.monitor, "\(error)"))
            removeRunDirectory()
            return 1
        }

        // Created, then told to start.
        let created: CreatedProcess
        do {
            created = try create()
        } catch {
            reportFailure(error, during: .create)
            removeRunDirectory()
            return 1
        }
        do {
            try startNetwork(created)
        } catch {
            reportFailure(StartFailure(.create, error.message))
            container.abandon(created)
            closeRun()
            removeRunDirectory()
            return 1
        }
        sync.created(pid: created.pid)
        guard (try? sync.waitForStart()) != nil else {
            // The service went away (or said something else): nobody will start this container.
            container.abandon(created)
            closeRun()
            removeRunDirectory()
            return 1
        }
        acceptQueuedClients()
        do {
            try finishNetwork()
            try container.start(created, serveNotification: { [loop] in relay_notify_serve(loop) })
        } catch {
            reportFailure(error, during: .start)
            container.abandon(created)
            closeRun()
            removeRunDirectory()
            return 1
        }
        recordRunning(restarted: false)
        sync.started()
        close(sync.fd)
        sync = MonitorChannel(fd: -1)
        superviseRuns()
        return finish()
    }

    /// From a started run on: relay it (skiff-relay takes over this process when it can; it
    /// comes back through `resume`), record its end, restart it as the policy says.
    func superviseRuns() {
        while true {
            let startedAt = Timestamp.monotonicNanos()
            handOverToRelay(startedAt: startedAt)
            let health = startHealthSchedule(startedAt: startedAt)
            let status = relayUntilExit()
            endHealthSchedule(health)
            finishRun()
            guard runEnded(waitStatus: status, finishedAt: Monitor.now(), startedAt: startedAt,
                           exitFileWritten: false) else { return }
        }
    }

    /// Back from skiff-relay after the process exited: the exit file is written and the attach
    /// connections are closed; the listening sockets and control connections come back.
    func resume(_ handBack: HandBack) -> Int32 {
        for fd in [handBack.attachListener, handBack.controlListener] + handBack.controls {
            _ = skiff_monitor_set_cloexec(fd)
        }
        loop.pointee.attach_listener = handBack.attachListener
        loop.pointee.control_listener = handBack.controlListener
        for fd in handBack.controls where !relay_add_control(loop, fd) { close(fd) }
        restarts = options.runState.restarts
        backoff = RestartBackoff(delay: options.runState.backoffDelay)
        if let lost = handBack.logLost {
            loop.pointee.log_lost.bytes = (lost.stdout, lost.stderr)
            loop.pointee.log_lost.err = lost.errno
        }
        if runEnded(waitStatus: handBack.waitStatus, finishedAt: handBack.finishedAt,
                    startedAt: options.runState.startedAt, exitFileWritten: true) {
            superviseRuns()
        }
        return finish()
    }

    /// A run ended (its output relayed, its clients closed): the exit recorded, then, when the
    /// policy says so and after the back-off, the container created and started again. True when
    /// a new run is going.
    func runEnded(waitStatus: Int32, finishedAt: String, startedAt: UInt64, exitFileWritten: Bool) -> Bool {
        let code = ExitFile.exitCode(waitStatus: waitStatus)
        endNetwork()
        // Asked before removeState, which removes the cgroup and its count (root on cgroup v1;
        // false without cgroups).
        let oomKilled = container.cgroupOOMKilled()
        writeLearnedProfile()
        let restart = recordExit(code: code, finishedAt: finishedAt, exitFileWritten: exitFileWritten,
                                 oomKilled: oomKilled)
        container.removeState()
        guard restart else { return false }
        let delay = backoff.next(ranFor: Timestamp.monotonicNanos() &- startedAt)
        closeStore()
        guard waitBeforeRestart(delay) else {
            recordRestartCancelled()
            return false
        }
        restarts += 1
        reapDyingHelper()
        do {
            let created = try create()
            acceptQueuedClients()
            do {
                try startNetwork(created)
                try finishNetwork()
                try container.start(created, serveNotification: { [loop] in relay_notify_serve(loop) })
            } catch {
                container.abandon(created)
                throw error
            }
        } catch {
            closeRun()
            recordFailedRestart(error)
            return false
        }
        unlink(options.exitPath)
        recordRunning(restarted: true)
        return true
    }

    /// No more runs: the sockets go (the whole container with --auto-remove).
    func finish() -> Int32 {
        // What the log lost and has not said yet: its last chance.
        if loop.pointee.log >= 0 { _ = log_write_losses(loop) }
        close(loop.pointee.attach_listener)
        close(loop.pointee.control_listener)
        loop.pointee.attach_listener = -1
        loop.pointee.control_listener = -1
        relay_close_controls(loop)
        if options.autoRemove {
            removeContainer()
        } else {
            unlink(options.paths.attachSocket)
            unlink(options.paths.controlSocket)
        }
        closeStore()
        reapDyingHelper(waiting: false)
        return 0
    }

    /// Sleeps `delay` (the back-off) in slices, so that a stop asked for meanwhile is seen within
    /// a quarter of a second; false when the restart is off.
    func waitBeforeRestart(_ delay: UInt64) -> Bool {
        let slice: UInt64 = 250_000_000
        var left = delay
        while left > slice {
            Sys.sleep(nanoseconds: slice)
            left -= slice
            guard stillWantsRestart() else { return false }
        }
        Sys.sleep(nanoseconds: left)
        return stillWantsRestart()
    }

    // MARK: - Create and start

    /// Creates the container with fresh stdio: pipes (stdin only with --stdin), or the pty.
    func create() throws -> CreatedProcess {
        let null = try Sys.openDevNull()
        defer { close(null) }
        var io = ProcessIO(stdin: null, stdout: null, stderr: null)
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        // Ours: stdin's write end, stdout's and stderr's read ends, the pty master.
        var ours = (stdin: Int32(-1), stdout: Int32(-1), stderr: Int32(-1), terminal: Int32(-1))
        func closeOurs() {
            for fd in [ours.stdin, ours.stdout, ours.stderr] where fd >= 0 { close(fd) }
        }
        do {
            if !options.tty {
                if options.stdin {
                    let p = try Sys.pipe()
                    io.stdin = p.read
                    childEnds.append(p.read)
                    ours.stdin = p.write
                }
                let out = try Sys.pipe()
                childEnds.append(out.write)
                io.stdout = out.write
                ours.stdout = out.read
                let err = try Sys.pipe()
                childEnds.append(err.write)
                io.stderr = err.write
                ours.stderr = err.read
            }
        } catch {
            closeOurs()
            throw error
        }
        // The previous run's descriptors go first: a listener may reach the loop during the create.
        relay_close_run(loop)
        let created: CreatedProcess
        let networksUserNamespace = userNamespaceForNetworks()
        do {
            // While the container's process mounts its root, the Store is opened and the labels
            // read for the events (both are waited for otherwise, once the program runs).
            created = try container.create(bundle: options.bundle, stdio: io,
                                           sharedUserNamespaceKeeper: SelfExecutable.beside("skiff-relay"),
                                           explainDenials: true,
                                           serveNotification: { [self] listener, program in
                                               if loop.pointee.notify.fd != listener {
                                                   prepareDenials(listener: listener, program: program)
                                               }
                                               relay_notify_serve(loop)
                                           },
                                           whileChildSetsUp: { [self] in readLabels() },
                                           sendsNamespaces: options.network != nil || options.pasta != nil || !options.endpoints.isEmpty,
                                           userNamespace: networksUserNamespace)
        } catch {
            closeNetworkKeeper()
            // The runtime closed a listener it had received: not ours to close again.
            loop.pointee.notify.fd = -1
            closeOurs()
            throw error
        }
        if let master = created.terminal {
            ours.terminal = master
            _ = skiff_monitor_set_cloexec(master)
        }
        for fd in [ours.stdin, ours.stdout, ours.stderr, ours.terminal] where fd >= 0 {
            _ = skiff_monitor_set_nonblocking(fd)
        }
        loop.pointee.pid = created.pid
        loop.pointee.stdin_fd = ours.stdin
        loop.pointee.stdout_fd = ours.stdout
        loop.pointee.stderr_fd = ours.stderr
        loop.pointee.terminal = ours.terminal
        if let listener = created.seccompListener, loop.pointee.notify.fd != listener {
            prepareDenials(listener: listener, program: created.seccompProgram)
        }
        return created
    }

    /// `error <step> <errno> <message>` to the service, while it listens: the runtime's step and
    /// errno when it has them, else `step`.
    func reportFailure(_ error: any Error, during step: StartFailure.Step) {
        guard let error = error as? RuntimeError else {
            reportFailure(StartFailure(step, "\(error)"))
            return
        }
        reportFailure(StartFailure(error.failureStep ?? step, errno: error.errno ?? 0,
                                   error.message(withoutContext: options.id)))
    }

    func reportFailure(_ failure: StartFailure) {
        guard sync.fd >= 0 else { return }
        sync.failed(failure)
        close(sync.fd)
        sync = MonitorChannel(fd: -1)
    }

    // MARK: - Files

    func removeRunDirectory() {
        FileSystem.removeTree(options.runDirectory)
    }

    /// Closes the run's descriptors (the process is gone or abandoned).
    func closeRun() {
        endNetwork()
        reapDyingHelper(waiting: false)
        relay_close_run(loop)
    }
}

import MonitorProtocol

/// `skiff-monitor`'s command line (docs/containers.md):
///
///     skiff-monitor --id <64hex> --bundle DIR --run-dir DIR --runtime-root DIR --store DIR
///                   [--image-worker PATH] [--tty] [--stdin] [--stdin-once]
///                   [--restart no|always|unless-stopped|on-failure[:N]] [--auto-remove]
///                   [--health INTERVAL,TIMEOUT,START-PERIOD,START-INTERVAL,RETRIES]
///                   [--network SLIRP4NETNS,KEY=VALUE,...] [--pasta PASTA,map_gw=B,publishes=B,OPTION,...]
///                   [--endpoints IFNAME,BRIDGE,...;...] [--uplink SLIRP4NETNS,KEY=VALUE,...]
///
/// plus, from skiff-relay once the container's process exited (docs/containers.md, "The relay"):
///
///     --exited WAIT-STATUS --finished-at TIME --listeners ATTACH-FD,CTL-FD [--controls FD,...]
///     [--log-lost STDOUT-BYTES,STDERR-BYTES,ERRNO] [--started NS] [--restarts N] [--backoff NS]
///     [--network-helper PID,EXIT-FD]
public struct MonitorOptions: Sendable, Equatable {
    public var id: String
    /// `<skiffRoot>/containers/<id>`: config.json, and the log file `ctr.log`.
    public var bundle: String
    /// `<run>/containers/<id>`: the attach and control sockets, the exit file.
    public var runDirectory: String
    /// `<run>/runtime`: the runtime's state root.
    public var runtimeRoot: String
    /// `<skiffRoot>`: the Store.
    public var store: String
    /// `skiff-image`, for removing the container tree (`--auto-remove`); nil: beside this program.
    public var imageWorker: String?
    public var tty = false
    public var stdin = false
    public var stdinOnce = false
    public var restart: RestartPolicy = .no
    public var autoRemove = false
    /// The container's healthcheck (`HealthSchedule`); nil: none.
    public var health: HealthSchedule?
    /// The container's user-mode network (`UserModeNetwork`); nil: none to make (`none`, `host`).
    public var network: UserModeNetwork?
    /// The container's default network by pasta instead (`PastaNetwork`, `Monitor+Pasta.swift`).
    public var pasta: PastaNetwork?
    /// The container's interfaces on user-defined networks (`NetworkEndpoint`); none: none.
    public var endpoints: [NetworkEndpoint] = []
    /// The uplink of the user-defined networks' keeper, when this monitor makes it (slirp4netns,
    /// `Monitor+Uplink.swift`); nil: a keeper without one.
    public var uplink: UserModeNetwork?
    /// Set when skiff-relay execs this program back after the process exited.
    public var handBack: HandBack?
    /// What a run carries through skiff-relay and back.
    public var runState = RunState()

    /// The container's files, as the service and skiff-relay name them.
    public var paths: ContainerPaths {
        ContainerPaths(id: id, bundle: bundle, run: runDirectory, runtimeRoot: runtimeRoot)
    }
    public var logPath: String { paths.log }
    public var exitPath: String { paths.exitFile }

    static let flags: Set<String> = ["--tty", "--stdin", "--stdin-once", "--auto-remove"]
    static let valued: Set<String> = ["--id", "--bundle", "--run-dir", "--runtime-root", "--store",
                                      "--image-worker", "--restart", "--exited", "--finished-at", "--listeners",
                                      "--controls", "--log-lost", "--started", "--restarts", "--backoff", "--health",
                                      "--network", "--network-helper", "--pasta", "--endpoints", "--uplink"]

    /// Whether these arguments come from skiff-relay (then fd 3 is no sync socket, and the
    /// process is detached already).
    public static func isHandBack(_ arguments: [String]) -> Bool {
        arguments.contains { $0 == "--exited" || $0.hasPrefix("--exited=") }
    }

    /// Parses the arguments after the program name; the error is a sentence for `error <message>`.
    public init(parsing arguments: [String]) throws(MonitorError) {
        var values: [String: String] = [:]
        var flags: Set<String> = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            var name = argument, inline: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            if MonitorOptions.flags.contains(name), inline == nil {
                flags.insert(name)
                i += 1
            } else if MonitorOptions.valued.contains(name) {
                if let inline {
                    values[name] = inline
                    i += 1
                } else {
                    guard i + 1 < arguments.count else { throw MonitorError("skiff-monitor: \(name) needs a value") }
                    values[name] = arguments[i + 1]
                    i += 2
                }
            } else {
                throw MonitorError("skiff-monitor: unknown argument '\(argument)'")
            }
        }
        func required(_ name: String) throws(MonitorError) -> String {
            guard let value = values[name], !value.isEmpty else { throw MonitorError("skiff-monitor: \(name) is required") }
            return value
        }
        id = try required("--id")
        guard id.utf8.count == 64, id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw MonitorError("skiff-monitor: invalid container id \"\(id)\"")
        }
        bundle = try required("--bundle")
        runDirectory = try required("--run-dir")
        runtimeRoot = try required("--runtime-root")
        store = try required("--store")
        for (name, path) in [("--bundle", bundle), ("--run-dir", runDirectory), ("--runtime-root", runtimeRoot),
                             ("--store", store)] where !path.hasPrefix("/") {
            throw MonitorError("skiff-monitor: \(name) must be an absolute path")
        }
        imageWorker = values["--image-worker"]
        tty = flags.contains("--tty")
        stdin = flags.contains("--stdin")
        stdinOnce = flags.contains("--stdin-once")
        autoRemove = flags.contains("--auto-remove")
        if let text = values["--restart"] {
            guard let policy = RestartPolicy(parsing: text) else {
                throw MonitorError("skiff-monitor: invalid restart policy '\(text)'")
            }
            restart = policy
        }
        if autoRemove && restart != .no {
            throw MonitorError("skiff-monitor: --auto-remove and a restart policy exclude each other")
        }
        if let text = values["--health"] {
            guard let schedule = HealthSchedule(argument: text) else {
                throw MonitorError("skiff-monitor: --health: not INTERVAL,TIMEOUT,START-PERIOD,START-INTERVAL,RETRIES: '\(text)'")
            }
            health = schedule
        }
        if let text = values["--network"] {
            guard let network = UserModeNetwork(argument: text) else {
                throw MonitorError("skiff-monitor: --network: not PROGRAM,KEY=VALUE,...: '\(text)'")
            }
            self.network = network
        }
        if let text = values["--pasta"] {
            guard let pasta = PastaNetwork(argument: text) else {
                throw MonitorError("skiff-monitor: --pasta: not PROGRAM,map_gw=BOOL,publishes=BOOL,OPTION,...: '\(text)'")
            }
            guard network == nil else { throw MonitorError("skiff-monitor: --network and --pasta exclude each other") }
            self.pasta = pasta
        }
        if let text = values["--endpoints"] {
            guard let endpoints = NetworkEndpoint.parse(argument: text) else {
                throw MonitorError("skiff-monitor: --endpoints: not IFNAME,BRIDGE,ADDRESS/PREFIX,GATEWAY,MTU,ROUTE;...: '\(text)'")
            }
            self.endpoints = endpoints
        }
        if let text = values["--uplink"] {
            guard let uplink = UserModeNetwork(argument: text) else {
                throw MonitorError("skiff-monitor: --uplink: not PROGRAM,KEY=VALUE,...: '\(text)'")
            }
            self.uplink = uplink
        }
        runState = try RunState(values)
        handBack = try HandBack(values)
    }

    /// The arguments that give these options again (without `handBack`): what skiff-relay passes
    /// back to this program.
    public var arguments: [String] {
        var list = ["--id", id, "--bundle", bundle, "--run-dir", runDirectory, "--runtime-root", runtimeRoot,
                    "--store", store]
        if let imageWorker { list += ["--image-worker", imageWorker] }
        if tty { list.append("--tty") }
        if stdin { list.append("--stdin") }
        if stdinOnce { list.append("--stdin-once") }
        if restart != .no { list += ["--restart", restart.argument] }
        if autoRemove { list.append("--auto-remove") }
        if let health { list += ["--health", health.argument] }
        if let network { list += ["--network", network.argument] }
        if let pasta { list += ["--pasta", pasta.argument] }
        if !endpoints.isEmpty { list += ["--endpoints", NetworkEndpoint.argument(endpoints)] }
        if let uplink { list += ["--uplink", uplink.argument] }
        if runState != RunState() {
            list += ["--started", String(runState.startedAt), "--restarts", String(runState.restarts),
                     "--backoff", String(runState.backoffDelay)]
            if let helper = runState.networkHelper { list += ["--network-helper", "\(helper.pid),\(helper.exitFD)"] }
        }
        return list
    }
}

/// What a run carries through skiff-relay: when it started, the restarts so far, the back-off.
public struct RunState: Sendable, Equatable {
    /// CLOCK_MONOTONIC nanoseconds when the run started (the back-off resets after 10 s up).
    public var startedAt: UInt64 = 0
    /// Restarts done by this monitor (on-failure's limit counts these).
    public var restarts = 0
    /// The back-off's last delay (`RestartBackoff.delay`).
    public var backoffDelay: UInt64 = 0
    /// The run's network helper (slirp4netns): its pid and the descriptor whose closing ends it
    /// (`Monitor+Network.swift`), kept open across skiff-relay.
    public var networkHelper: NetworkHelperHandle?

    public init(startedAt: UInt64 = 0, restarts: Int = 0, backoffDelay: UInt64 = 0,
                networkHelper: NetworkHelperHandle? = nil) {
        self.startedAt = startedAt
        self.restarts = restarts
        self.backoffDelay = backoffDelay
        self.networkHelper = networkHelper
    }

    init(_ values: [String: String]) throws(MonitorError) {
        func number<T: FixedWidthInteger>(_ name: String, _: T.Type) throws(MonitorError) -> T {
            guard let text = values[name] else { return 0 }
            guard let value = T(text), value >= 0 else { throw MonitorError("skiff-monitor: \(name): bad number '\(text)'") }
            return value
        }
        startedAt = try number("--started", UInt64.self)
        restarts = try number("--restarts", Int.self)
        backoffDelay = try number("--backoff", UInt64.self)
        if let text = values["--network-helper"] {
            let parts = text.split(separator: ",")
            guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, let fd = Int32(parts[1]), fd >= 0 else {
                throw MonitorError("skiff-monitor: --network-helper: not PID,EXIT-FD: '\(text)'")
            }
            networkHelper = NetworkHelperHandle(pid: pid, exitFD: fd)
        }
    }
}

/// A running network helper as a monitor holds it: the pid, and the write end of the pipe whose
/// read end is slirp4netns's `--exit-fd` (closing it, or this process ending, ends the helper).
public struct NetworkHelperHandle: Sendable, Equatable {
    public var pid: Int32
    public var exitFD: Int32
    public init(pid: Int32, exitFD: Int32) {
        self.pid = pid
        self.exitFD = exitFD
    }
}

/// What skiff-relay hands back once the container's process exited: its wait status, the time
/// it wrote in the exit file, and the descriptors it kept (the listening sockets, the control
/// connections). The attach connections are closed by then.
public struct HandBack: Sendable, Equatable {
    public var waitStatus: Int32
    public var finishedAt: String
    public var attachListener: Int32
    public var controlListener: Int32
    public var controls: [Int32]
    /// The run's output the log could not take and has not marked yet (the disk was still full
    /// when the relay ended): bytes of stdout, of stderr, and the failed write's errno.
    public var logLost: LogLosses?

    public init(waitStatus: Int32, finishedAt: String, attachListener: Int32, controlListener: Int32,
                controls: [Int32] = [], logLost: LogLosses? = nil) {
        self.waitStatus = waitStatus
        self.finishedAt = finishedAt
        self.attachListener = attachListener
        self.controlListener = controlListener
        self.controls = controls
        self.logLost = logLost
    }

    /// nil without `--exited`; the three go together.
    init?(_ values: [String: String]) throws(MonitorError) {
        let names = ["--exited", "--finished-at", "--listeners"]
        let given = names.filter { values[$0] != nil }
        if given.isEmpty {
            guard values["--controls"] == nil else { throw MonitorError("skiff-monitor: --controls needs --exited") }
            guard values["--log-lost"] == nil else { throw MonitorError("skiff-monitor: --log-lost needs --exited") }
            return nil
        }
        guard given.count == names.count else {
            throw MonitorError("skiff-monitor: --exited, --finished-at and --listeners go together")
        }
        func descriptors(_ name: String) throws(MonitorError) -> [Int32] {
            guard let text = values[name], !text.isEmpty else { return [] }
            var fds: [Int32] = []
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard let fd = Int32(part), fd >= 0 else {
                    throw MonitorError("skiff-monitor: \(name): bad descriptor '\(part)'")
                }
                fds.append(fd)
            }
            return fds
        }
        guard let status = Int32(values["--exited"]!) else {
            throw MonitorError("skiff-monitor: --exited: bad wait status '\(values["--exited"]!)'")
        }
        let listeners = try descriptors("--listeners")
        guard listeners.count == 2 else {
            throw MonitorError("skiff-monitor: --listeners: two descriptors, attach and ctl")
        }
        let finishedAt = values["--finished-at"]!
        guard !finishedAt.isEmpty else { throw MonitorError("skiff-monitor: --finished-at is empty") }
        var logLost: LogLosses?
        if let text = values["--log-lost"] {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 3, let out = UInt64(parts[0]), let err = UInt64(parts[1]),
                  let errno = Int32(parts[2]), errno >= 0 else {
                throw MonitorError("skiff-monitor: --log-lost: not STDOUT-BYTES,STDERR-BYTES,ERRNO: '\(text)'")
            }
            logLost = LogLosses(stdout: out, stderr: err, errno: errno)
        }
        self.init(waitStatus: status, finishedAt: finishedAt, attachListener: listeners[0],
                  controlListener: listeners[1], controls: try descriptors("--controls"), logLost: logLost)
    }
}

/// Bytes of a run's output the log lost and has not marked yet (CRelay's `struct log_losses`).
public struct LogLosses: Sendable, Equatable {
    public var stdout: UInt64
    public var stderr: UInt64
    public var errno: Int32

    public init(stdout: UInt64, stderr: UInt64, errno: Int32) {
        self.stdout = stdout
        self.stderr = stderr
        self.errno = errno
    }
}

/// The monitor's one error type: a message for the service (`error <message>`).
public struct MonitorError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `skiff-monitor`'s command line (docs/containers.md):
///
///     skiff-monitor --id <64hex> --bundle DIR --run-dir DIR --runtime-root DIR --store DIR
///                   [--image-worker PATH] [--tty] [--stdin] [--stdin-once]
///                   [--restart no|always|unless-stopped|on-failure[:N]] [--auto-remove]
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

    public var logPath: String { bundle + "/ctr.log" }
    public var exitPath: String { runDirectory + "/exit" }

    static let flags: Set<String> = ["--tty", "--stdin", "--stdin-once", "--auto-remove"]
    static let valued: Set<String> = ["--id", "--bundle", "--run-dir", "--runtime-root", "--store",
                                      "--image-worker", "--restart"]

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
    }
}

/// The monitor's one error type: a message for the service (`error <message>`).
public struct MonitorError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `skiff-monitor --exec`'s command line (docs/exec.md): one exec's supervisor. The service
/// writes it (`arguments`), the supervisor parses it: one definition for both ends.
///
///     skiff-monitor --exec <64hex> --id <64hex> --run-dir DIR --runtime-root DIR --store DIR
///                   [--tty] [--stdin] [--privileged] [--user UID:GID[:GID,...]] [--cwd DIR]
///                   [--env KEY=VALUE]... -- PROGRAM [ARG]...
public struct ExecArguments: Sendable, Equatable {
    /// The exec instance (the Store's `execs` row).
    public var execID: String
    /// The container it runs in.
    public var containerID: String
    /// `<run>/exec/<exec id>`: the attach and control sockets.
    public var runDirectory: String
    public var runtimeRoot: String
    public var store: String
    public var tty = false
    public var stdin = false
    public var privileged = false
    public var user: (uid: UInt32, gid: UInt32, additionalGids: [UInt32])?
    public var cwd: String?
    /// `--console-size ROWSxCOLUMNS`: with `tty`, the pty's size before the process runs.
    public var consoleSize: (rows: UInt16, columns: UInt16)?
    public var env: [String] = []
    public var args: [String]

    static let flags: Set<String> = ["--tty", "--stdin", "--privileged"]
    static let valued: Set<String> = ["--exec", "--id", "--run-dir", "--runtime-root", "--store", "--user", "--cwd", "--env",
                                      "--console-size"]

    /// Whether these arguments ask for an exec's supervisor.
    public static func isExec(_ arguments: [String]) -> Bool {
        arguments.first == "--exec"
    }

    public init(parsing arguments: [String]) throws(StartFailure) {
        var values: [String: String] = [:]
        var env: [String] = []
        var flags: Set<String> = []
        var i = 0
        var rest: [String]?
        while i < arguments.count {
            let argument = arguments[i]
            if argument == "--" {
                rest = Array(arguments[(i + 1)...])
                break
            }
            if ExecArguments.flags.contains(argument) {
                flags.insert(argument)
                i += 1
            } else if ExecArguments.valued.contains(argument) {
                guard i + 1 < arguments.count else { throw StartFailure(.monitor, "skiff-monitor: \(argument) needs a value") }
                if argument == "--env" { env.append(arguments[i + 1]) } else { values[argument] = arguments[i + 1] }
                i += 2
            } else {
                throw StartFailure(.monitor, "skiff-monitor: unknown argument '\(argument)'")
            }
        }
        guard let args = rest, !args.isEmpty else { throw StartFailure(.monitor, "skiff-monitor: --exec needs a program after --") }
        func required(_ name: String) throws(StartFailure) -> String {
            guard let value = values[name], !value.isEmpty else { throw StartFailure(.monitor, "skiff-monitor: \(name) is required") }
            return value
        }
        func hexID(_ name: String) throws(StartFailure) -> String {
            let value = try required(name)
            guard value.utf8.count == 64,
                  value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                throw StartFailure(.monitor, "skiff-monitor: \(name): invalid id \"\(value)\"")
            }
            return value
        }
        execID = try hexID("--exec")
        containerID = try hexID("--id")
        runDirectory = try required("--run-dir")
        runtimeRoot = try required("--runtime-root")
        store = try required("--store")
        for (name, path) in [("--run-dir", runDirectory), ("--runtime-root", runtimeRoot), ("--store", store)]
            where !path.hasPrefix("/") {
            throw StartFailure(.monitor, "skiff-monitor: \(name) must be an absolute path")
        }
        tty = flags.contains("--tty")
        stdin = flags.contains("--stdin")
        privileged = flags.contains("--privileged")
        if let text = values["--user"] {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]) else {
                throw StartFailure(.monitor, "skiff-monitor: --user: not UID:GID[:GID,...]: '\(text)'")
            }
            var groups: [UInt32] = []
            if parts.count == 3, !parts[2].isEmpty {
                for part in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                    guard let group = UInt32(part) else { throw StartFailure(.monitor, "skiff-monitor: --user: bad group '\(part)'") }
                    groups.append(group)
                }
            }
            user = (uid, gid, groups)
        }
        cwd = values["--cwd"]
        if let text = values["--console-size"] {
            let parts = text.split(separator: "x", omittingEmptySubsequences: false)
            guard parts.count == 2, let rows = UInt16(parts[0]), let columns = UInt16(parts[1]) else {
                throw StartFailure(.monitor, "skiff-monitor: --console-size: not ROWSxCOLUMNS: '\(text)'")
            }
            consoleSize = (rows, columns)
        }
        self.env = env
        self.args = args
    }

    /// The arguments that give these options again (after `skiff-monitor`).
    public var arguments: [String] {
        var list = ["--exec", execID, "--id", containerID, "--run-dir", runDirectory, "--runtime-root", runtimeRoot,
                    "--store", store]
        if tty { list.append("--tty") }
        if stdin { list.append("--stdin") }
        if privileged { list.append("--privileged") }
        if let user {
            list += ["--user", "\(user.uid):\(user.gid):" + user.additionalGids.map(String.init).joined(separator: ",")]
        }
        if let cwd { list += ["--cwd", cwd] }
        if let consoleSize { list += ["--console-size", "\(consoleSize.rows)x\(consoleSize.columns)"] }
        for entry in env { list += ["--env", entry] }
        return list + ["--"] + args
    }

    public init(execID: String, containerID: String, runDirectory: String, runtimeRoot: String, store: String,
                args: [String]) {
        self.execID = execID
        self.containerID = containerID
        self.runDirectory = runDirectory
        self.runtimeRoot = runtimeRoot
        self.store = store
        self.args = args
    }

    public static func == (a: ExecArguments, b: ExecArguments) -> Bool {
        a.arguments == b.arguments
    }
}

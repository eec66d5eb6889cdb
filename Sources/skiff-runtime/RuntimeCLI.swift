import OCI
import Platform
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-runtime`: an OCI runtime command line (what `skiff runtime` runs), compatible with the
/// way engines call crun and runc: `[--root DIR] COMMAND [OPTIONS] ID`.
@main
enum RuntimeCLI {
    static let usage = """
        Usage: skiff runtime [--root DIR] COMMAND [OPTIONS] ID

        An OCI runtime: runs a bundle (config.json + rootfs) in namespaces, rootless or as root.

        Commands:
          create [--bundle DIR] [--console-socket PATH] [--pid-file PATH] ID
                 Set up the container; its process waits for start.
          start ID        Let the created container run its program.
          state ID        Print the OCI state as JSON.
          kill ID [SIGNAL]  Send a signal (default SIGTERM).
          delete [--force] ID  Remove a stopped container (--force: kill it first).
          run [--bundle DIR] ID  create + start + wait; exits with the container's status.
          pause ID        Freeze every process of the container (cgroup freezer; as root only).
          resume ID       Thaw a paused container.
          update [--memory N] [--memory-swap N] [--memory-reservation N] [--cpu-shares N]
                 [--cpu-quota N] [--cpu-period N] [--pids-limit N] [--cpuset-cpus LIST]
                 [--cpuset-mems LIST] [--blkio-weight N] ID (cpuset and blkio weight on cgroup v2 only)
                          Write new limits into the running container's cgroups (as root only;
                          exit status 3 when the kernel refuses a value, e.g. memory below usage).
          cgroups ID      Print the container's cgroups as JSON: {"paths":{...},"oomKilled":BOOL,"freezer":STATE}
                          ({} without cgroups: rootless, or no cgroup v1).
          exec [--process FILE] [--env K=V] [--cwd DIR] [--user UID[:GID]] ID [COMMAND ARGS...]
                 Run another process in the running container (its namespaces, capabilities,
                 seccomp filter and label); exits with its status.

        Global options:
          --root DIR      State directory (default $XDG_RUNTIME_DIR/skiff/runtime, /run/skiff/runtime for root).
          --log FILE, --log-format text|json, --debug, --systemd-cgroup  Accepted for compatibility.

        """

    static func main() {
        FileLimit.restoreInherited()
        var arguments = CommandLine.arguments.dropFirst()
        var root: String?
        // Global options come before the command.
        while let first = arguments.first, first.hasPrefix("-") {
            arguments.removeFirst()
            let (name, inline) = split(first)
            switch name {
            case "--root": root = inline ?? arguments.popFirst()
            case "--log", "--log-format", "--criu", "--rootless": _ = inline ?? arguments.popFirst()
            case "--debug", "--systemd-cgroup": break
            case "--help", "-h": print(usage, terminator: ""); return
            case "--version", "-v": print("skiff-runtime version 0.1.0\nspec: 1.1.0"); return
            default: usageError("unknown global option \(name)")
            }
        }
        guard let command = arguments.popFirst() else { usageError("a command is needed") }
        let stateRoot = root ?? Container.defaultRoot(environment: environment())
        do {
            switch command {
            case "create":
                let options = try parse(arguments, valued: ["--bundle", "-b", "--console-socket", "--pid-file"],
                                        flags: ["--no-pivot", "--no-new-keyring"])
                let container = try Container(id: options.id, root: stateRoot)
                try container.create(bundle: options.values["--bundle"] ?? options.values["-b"] ?? ".",
                                     consoleSocket: options.values["--console-socket"],
                                     pidFile: options.values["--pid-file"], warn: warn)
            case "start":
                try Container(id: parse(arguments).id, root: stateRoot).start()
            case "state":
                let state = try Container(id: parse(arguments).id, root: stateRoot).state()
                print(state.json.text)
            case "kill":
                let options = try parse(arguments, valued: [], flags: ["--all", "-a"], extra: 1)
                let signal = try Signals.number(options.extra.first ?? "SIGTERM")
                try Container(id: options.id, root: stateRoot)
                    .kill(signal: signal, all: options.flags.contains("--all") || options.flags.contains("-a"))
            case "delete":
                let options = try parse(arguments, valued: [], flags: ["--force", "-f"])
                try Container(id: options.id, root: stateRoot)
                    .delete(force: options.flags.contains("--force") || options.flags.contains("-f"))
            case "exec":
                let options = try parse(arguments, valued: ["--process", "-p", "--cwd", "--env", "-e", "--user", "-u"],
                                        flags: ["--tty", "-t", "--detach", "-d"], extra: 1_000, stopAtFirstPositional: true)
                var exec = Container.ExecOptions(args: options.extra)
                if let file = options.values["--process"] ?? options.values["-p"] {
                    exec.process = try Spec.readProcess(try FileSystem.readFile(file), source: file)
                } else if exec.args.isEmpty {
                    usageError("exec needs a command or --process FILE")
                }
                exec.env = options.multi["--env", default: []] + options.multi["-e", default: []]
                exec.cwd = options.values["--cwd"]
                if let user = options.values["--user"] ?? options.values["-u"] {
                    let parts = user.split(separator: ":")
                    guard let uid = UInt32(parts[0]), parts.count <= 2, let gid = UInt32(parts.count == 2 ? parts[1] : parts[0]) else {
                        usageError("--user takes UID[:GID]")
                    }
                    exec.user = (uid, gid)
                }
                exec.terminal = options.flags.contains("--tty") || options.flags.contains("-t")
                exit(try Container(id: options.id, root: stateRoot).exec(exec, warn: warn))
            case "pause":
                try Container(id: parse(arguments).id, root: stateRoot).freeze()
            case "resume":
                try Container(id: parse(arguments).id, root: stateRoot).thaw()
            case "update":
                let options = try parse(arguments, valued: ["--memory", "--memory-swap", "--memory-reservation", "--cpu-shares",
                                                            "--cpu-quota", "--cpu-period", "--pids-limit",
                                                            "--cpuset-cpus", "--cpuset-mems", "--blkio-weight"])
                func number(_ name: String) -> Int64? {
                    guard let text = options.values[name] else { return nil }
                    guard let value = Int64(text) else { usageError("\(name) takes a number, not \"\(text)\"") }
                    return value
                }
                let resources = Spec.Resources(
                    pidsLimit: number("--pids-limit"), memoryLimit: number("--memory"),
                    memoryReservation: number("--memory-reservation"), memorySwap: number("--memory-swap"),
                    cpuShares: number("--cpu-shares").map { UInt64(max(0, $0)) }, cpuQuota: number("--cpu-quota"),
                    cpuPeriod: number("--cpu-period").map { UInt64(max(0, $0)) },
                    cpusetCpus: options.values["--cpuset-cpus"], cpusetMems: options.values["--cpuset-mems"],
                    blkioWeight: number("--blkio-weight").map { UInt16(clamping: $0) })
                do {
                    try Container(id: options.id, root: stateRoot).update(resources)
                } catch let error as RuntimeError where error.code == .invalidArgument {
                    printError("skiff runtime: \(error.message)")
                    exit(3)
                }
            case "cgroups":
                print(try Container(id: parse(arguments).id, root: stateRoot).cgroupReport().text)
            case "run":
                let options = try parse(arguments, valued: ["--bundle", "-b"], flags: ["--detach", "-d"])
                let code = try Container(id: options.id, root: stateRoot)
                    .run(bundle: options.values["--bundle"] ?? options.values["-b"] ?? ".", warn: warn)
                exit(code)
            default:
                usageError("unknown command \(command)")
            }
        } catch let error as RuntimeError {
            fail(error.message)
        } catch {
            fail("\(error)")
        }
    }

    struct Parsed {
        var id = ""
        var values: [String: String] = [:]
        var flags: Set<String> = []
        var extra: [String] = []
        /// Options given more than once (`--env A=1 --env B=2`).
        var multi: [String: [String]] = [:]
    }

    static func parse(_ arguments: ArraySlice<String>, valued: Set<String> = [], flags: Set<String> = [],
                      extra: Int = 0, stopAtFirstPositional: Bool = false) throws -> Parsed {
        var parsed = Parsed()
        var rest = arguments
        var positionals: [String] = []
        while let argument = rest.popFirst() {
            if stopAtFirstPositional && !positionals.isEmpty {
                // `exec ID CMD ARGS...`: everything after the id belongs to the command.
                positionals.append(argument)
                positionals += rest
                break
            }
            if argument.hasPrefix("-") && argument.count > 1 {
                let (name, inline) = split(argument)
                if valued.contains(name) {
                    guard let value = inline ?? rest.popFirst() else { usageError("option \(name) needs a value") }
                    parsed.values[name] = value
                    parsed.multi[name, default: []].append(value)
                } else if flags.contains(name) {
                    parsed.flags.insert(name)
                } else {
                    usageError("unknown option \(name)")
                }
            } else {
                positionals.append(argument)
            }
        }
        guard let id = positionals.first else { usageError("a container id is needed") }
        guard positionals.count <= 1 + extra else { usageError("unexpected argument \(positionals[1 + extra])") }
        parsed.id = id
        parsed.extra = Array(positionals.dropFirst())
        return parsed
    }

    static func split(_ argument: String) -> (String, String?) {
        guard let eq = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
    }

    static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let pair = String(cString: pointer)
            if let eq = pair.firstIndex(of: "=") { result[String(pair[..<eq])] = String(pair[pair.index(after: eq)...]) }
            entry += 1
        }
        return result
    }

    static func warn(_ message: String) {
        printError("skiff runtime: warning: \(message)")
    }

    static func printError(_ message: String) {
        let line = message + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    static func usageError(_ message: String) -> Never {
        printError("skiff runtime: \(message)\n\n\(usage)")
        exit(2)
    }

    static func fail(_ message: String) -> Never {
        printError("skiff runtime: \(message)")
        exit(1)
    }
}

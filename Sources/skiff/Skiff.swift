import APIServer
import Config
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `skiff service | config | version | help`
@main
enum Skiff {
    static let usage = """
        Usage: skiff COMMAND [OPTIONS]

        A daemonless, rootless container engine serving the Docker Engine API.

        Commands:
          service [--socket PATH] [--time SECONDS] [-H HOST]... [TLS OPTIONS]
                  Serve the API on a unix socket until idle. Under systemd socket activation
                  (LISTEN_FDS) the inherited socket is served; otherwise $XDG_RUNTIME_DIR/skiff/skiff.sock
                  (/run/skiff/skiff.sock for root). Without XDG_RUNTIME_DIR: /run/user/UID if it is
                  yours (mode 0700), else $TMPDIR/skiff-run-UID. --time: idle seconds before exiting,
                  0 = never (default: containers.conf [engine] service_timeout, 5).
                  --header-timeout SECONDS (30), --keepalive-timeout SECONDS (120),
                  --max-connections N (half the descriptor limit): see docs/containers.md;
                  also SKIFF_HEADER_TIMEOUT, SKIFF_KEEPALIVE_TIMEOUT, SKIFF_MAX_CONNECTIONS.
                  -H, --host unix:///PATH | tcp://ADDR:PORT   (repeatable; default: $SKIFF_HOST,
                  comma-separated) also serve on TCP, as dockerd -H; TCP sockets passed by socket
                  activation are served the same way. TCP requires mutual TLS:
                  --tlsverify --tlscacert CA.pem --tlscert CERT.pem --tlskey KEY.pem
                  (defaults: $SKIFF_TLS_VERIFY, and ca.pem, cert.pem, key.pem in $SKIFF_CERT_PATH);
                  clients need a certificate signed by CA.pem. --insecure-plain-tcp serves TCP
                  without TLS or any authentication: anyone who connects controls your containers.
          config [KEY] [--files]
                  Print the effective configuration as ORIGIN<TAB>KEY=VALUE lines, like
                  `git config --show-origin --list`; KEY limits it to one key or table.
          runtime [--root DIR] create|start|state|kill|delete|run ...
                  The OCI runtime (runs skiff-runtime, installed beside skiff).
          explain CONTAINER   (also: denials CONTAINER)
                  Print the syscalls the container was refused, each with its reason: the seccomp
                  rule or the missing capability, and the setting that decided it with its origin
                  (docs/denials.md). Works without the service.
          version Print the version.
          help    Print this help.

        """

    static func main() {
        var arguments = CommandLine.arguments.dropFirst()
        let command = arguments.popFirst() ?? "help"
        do {
            switch command {
            case "service":
                try service(arguments)
            case "config":
                try config(arguments)
            case "runtime":
                runtime(arguments)
            case "explain", "denials":
                try explain(arguments)
            case "version", "--version":
                print("skiff version \(Engine.version)")
            case "help", "--help", "-h":
                print(usage, terminator: "")
            default:
                throw Arguments.UsageError(message: "unknown command '\(command)'")
            }
        } catch let error as Arguments.UsageError {
            fail("skiff: \(error)\n\n\(usage)")
        } catch {
            fail("skiff: \(error)")
        }
    }

    static func service(_ arguments: ArraySlice<String>) throws {
        let parsed = try Arguments(arguments, valued: Set(["--socket", "--time", "-H", "--host", "--tlscacert", "--tlscert",
                                                           "--tlskey"] + ConnectionLimits.flags),
                                   booleans: ["--help", "--tlsverify", "--insecure-plain-tcp"])
        if parsed.flags.contains("--help") { print(usage, terminator: ""); return }
        guard parsed.positionals.isEmpty else {
            throw Arguments.UsageError(message: "service takes no arguments, got '\(parsed.positionals[0])'")
        }
        let time = try parsed.integer("--time")
        if let time, time < 0 { throw Arguments.UsageError(message: "--time must be 0 or more seconds") }
        var socket = parsed.options["--socket"]
        if let socket, !socket.hasPrefix("/") {
            throw Arguments.UsageError(message: "--socket must be an absolute path")
        }

        if let chosen = establishRuntimeDirectory() {
            printError("skiff service: XDG_RUNTIME_DIR is not set: using \(chosen)")
        }
        let config = try loadConfig()
        let activated = try ActivatedSockets.take()
        var environment: [String: String] = [:]
        for name in ["SKIFF_HOST", "SKIFF_TLS_VERIFY", "SKIFF_CERT_PATH"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        let hosts = (parsed.lists["-H"] ?? []) + (parsed.lists["--host"] ?? [])
        let resolved = try RemoteListeners.resolve(
            hosts: hosts, tlsVerify: parsed.flags.contains("--tlsverify"), caFile: parsed.options["--tlscacert"],
            certFile: parsed.options["--tlscert"], keyFile: parsed.options["--tlskey"],
            insecurePlain: parsed.flags.contains("--insecure-plain-tcp"), inheritedTCP: activated?.tcp ?? [],
            environment: environment)
        if let path = resolved.unixPath {
            guard socket == nil || socket == path else {
                throw Arguments.UsageError(message: "--socket \(socket ?? "") and -H unix://\(path) name two unix sockets; the service serves one")
            }
            socket = path
        }
        if let warning = resolved.remote?.insecureWarning {
            printError("skiff service: \(warning)")
        }
        let listen: ListenSocket
        if let inherited = activated?.unix, socket == nil {
            listen = .inherited(fd: inherited)
        } else {
            listen = .path(socket ?? config.defaultSocketPath, ownDirectory: socket == nil)
        }
        var service = Service(listen: listen, idleTimeout: time ?? config.serviceTimeout,
                              engine: Engine(config: config), remote: resolved.remote)
        do {
            service.connectionLimits = try ConnectionLimits.resolve(options: parsed.options)
        } catch let error as ServiceError {
            throw Arguments.UsageError(message: error.message)
        }
        do {
            try service.run()
        } catch let error as ServiceError {
            fail("skiff service: \(error)")
        }
    }

    static func config(_ arguments: ArraySlice<String>) throws {
        let parsed = try Arguments(arguments, valued: [], booleans: ["--files", "--help"])
        if parsed.flags.contains("--help") { print(usage, terminator: ""); return }
        guard parsed.positionals.count <= 1 else {
            throw Arguments.UsageError(message: "config takes at most one KEY")
        }
        let key = parsed.positionals.first
        _ = establishRuntimeDirectory()
        let config = try loadConfig()
        let lines = config.listing(filter: key)
        if let key, lines.isEmpty {
            fail("skiff config: no such key: \(key)")
        }
        if parsed.flags.contains("--files") {
            for file in config.filesRead { print("# read \(file)") }
        }
        for line in lines { print(line) }
    }

    static func explain(_ arguments: ArraySlice<String>) throws {
        let parsed = try Arguments(arguments, valued: [], booleans: ["--help"])
        if parsed.flags.contains("--help") { print(usage, terminator: ""); return }
        guard parsed.positionals.count == 1 else {
            throw Arguments.UsageError(message: "explain takes one CONTAINER")
        }
        _ = establishRuntimeDirectory()
        let config = try loadConfig()
        do {
            let report = try DenialReport.load(parsed.positionals[0], skiffRoot: config.skiffRoot,
                                               runtimeDirectory: config.runtimeDirectoryPath)
            for line in report.lines { print(line) }
        } catch let error as EngineError {
            fail("skiff explain: \(error.message)")
        }
    }

    /// `skiff runtime ...` is `skiff-runtime ...` from the same directory: the runtime links
    /// libseccomp, libcap and libselinux, which the service should not load.
    static func runtime(_ arguments: ArraySlice<String>) -> Never {
        let path = SelfExecutable.beside("skiff-runtime")
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, &argv)
        fail("skiff: cannot run \(path): \(String(cString: strerror(errno)))")
    }

    /// A user's process whose environment has no XDG_RUNTIME_DIR gets one (`RuntimeDirectory`,
    /// as Podman does), set in its environment so that the configuration, the monitors and the
    /// image worker all use the same directory. Returns a private directory chosen in the
    /// temporary directory (nil otherwise); ends the command when there is none to use.
    static func establishRuntimeDirectory() -> String? {
        let uid = getuid()
        guard uid != 0 else { return nil }
        if let value = getenv("XDG_RUNTIME_DIR"), value.pointee != 0 { return nil }
        let temporary = getenv("TMPDIR").map { String(cString: $0) } ?? ""
        do {
            let chosen = try RuntimeDirectory.fallback(uid: uid, temporaryDirectory: temporary)
            setenv("XDG_RUNTIME_DIR", chosen, 1)
            return chosen == "/run/user/\(uid)" ? nil : chosen
        } catch {
            fail("skiff: \(error)")
        }
    }

    /// Reads the configuration; warnings go to stderr, errors end the command with file and line.
    static func loadConfig() throws -> EngineConfig {
        do {
            let config = try ConfigLoader().load()
            for warning in config.warnings {
                printError("skiff: warning: \(warning)")
            }
            return config
        } catch let error as ConfigError {
            fail("skiff: configuration: \(error)")
        }
    }

    static func printError(_ message: String) {
        let line = message + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// Prints `message` and exits 125, the status Docker and Podman use for an engine error.
    static func fail(_ message: String) -> Never {
        printError(message)
        exit(125)
    }
}

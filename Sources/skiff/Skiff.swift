import APIServer
import ArgumentParser
import Config

#if canImport(Glibc)
import Glibc
#endif

@main
struct Skiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "A daemonless, rootless container engine serving the Docker Engine API.",
        version: Engine.version,
        subcommands: [ServiceCommand.self, ConfigCommand.self])
}

struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Serve the Docker Engine API on a unix socket until idle.",
        discussion: """
            Under systemd socket activation (LISTEN_FDS) the inherited socket is served; otherwise \
            the service listens on $XDG_RUNTIME_DIR/skiff/skiff.sock (/run/skiff/skiff.sock for root).
            """)

    @Option(name: .long, help: "Listen on this unix socket path instead of the default.")
    var socket: String?

    @Option(name: .long, help: "Exit after this many idle seconds; 0 = never (default: containers.conf service_timeout, 5).")
    var time: Int?

    func validate() throws {
        if let time, time < 0 { throw ValidationError("--time must be 0 or more seconds") }
    }

    func run() throws {
        let config = try loadConfig()
        let listen: ListenSocket
        if let inherited = ListenSocket.fromActivation(), socket == nil {
            listen = inherited
        } else {
            listen = .path(socket ?? config.defaultSocketPath)
        }
        let service = Service(listen: listen, idleTimeout: time ?? config.serviceTimeout,
                              engine: Engine(config: config))
        do {
            try service.run()
        } catch let error as ServiceError {
            throw failure("skiff service: \(error)")
        }
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration and where each value came from.",
        discussion: "Lines read ORIGIN<TAB>KEY=VALUE, as `git config --show-origin --list` prints them.")

    @Argument(help: "Print only this key, or the keys of this table (e.g. containers.default_capabilities, engine).")
    var key: String?

    @Flag(name: .long, help: "Also list the files that were read.")
    var files = false

    func run() throws {
        let config = try loadConfig()
        let lines = config.listing(filter: key)
        if let key, lines.isEmpty {
            throw failure("skiff config: no such key: \(key)")
        }
        if files {
            for file in config.filesRead { print("# read \(file)") }
        }
        for line in lines { print(line) }
    }
}

/// Reads the configuration; warnings go to stderr, errors end the command with the file and line.
func loadConfig() throws -> EngineConfig {
    do {
        let config = try ConfigLoader().load()
        for warning in config.warnings {
            printError("skiff: warning: \(warning)")
        }
        return config
    } catch let error as ConfigError {
        throw failure("skiff: configuration: \(error)")
    }
}

func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Prints `message` and exits 125, the status Docker and Podman use for an engine error.
func failure(_ message: String) -> ExitCode {
    printError(message)
    return ExitCode(125)
}

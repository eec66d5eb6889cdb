#if canImport(Glibc)
import Glibc
#endif
import Config
import MonitorProtocol
import Store

/// pasta as the default network's helper (docs/networking.md): chosen by containers.conf
/// `[network] default_rootless_network_cmd = "pasta"`, rootless only (the key names the rootless
/// command: as root the default network stays slirp4netns), with `[network] pasta_options`.
extension ContainerNetwork {
    /// pasta for a `bridge` container of this service, from containers.conf; nil when the helper
    /// is slirp4netns (`userMode`). `publishes`: the container publishes ports (pasta then starts
    /// at `start`, when they are resolved).
    static func pasta(_ settings: EngineConfig, rootless: Bool, publishes: Bool = false) throws -> PastaNetwork? {
        guard rootless, settings.rootlessNetworkCommand == "pasta" else { return nil }
        guard let path = findOnPath("pasta"), access(path, X_OK) == 0 else {
            throw EngineError(.internal, "could not find pasta, the network namespace can't be configured: exec: \"pasta\": executable file not found in $PATH")
        }
        var network = PastaNetwork(program: path)
        do {
            try network.apply(options: settings.pastaOptions)
        } catch {
            throw EngineError(.invalidArgument, error.message)
        }
        network.publishes = publishes
        return network
    }

    /// The addresses a pasta container has (its /etc/hosts, inspect); throws when the host has
    /// nothing for pasta to copy (no IPv4 default route), as pasta itself would fail to start.
    static func pastaAddressing(_ network: PastaNetwork, settings: EngineConfig) throws -> PastaAddressing {
        guard let addressing = PastaAddressing(network, hostContainersInternalIP: settings.hostContainersInternalIP) else {
            throw EngineError(.internal, "pasta: the host has no IPv4 default route with an address to copy into the container (docs/networking.md)")
        }
        return addressing
    }

    /// The monitor's arguments for a `bridge` container's network: `--pasta ...` or `--network ...`.
    static func monitorArguments(_ engine: Engine, _ options: StoredContainer) throws -> [String] {
        let publishes = !(try ContainerPorts.requested(options)).isEmpty
        if let pasta = try pasta(engine.config, rootless: engine.isRootless, publishes: publishes) {
            return ["--pasta", pasta.argument]
        }
        return ["--network", try userMode(engine.config).argument]
    }

    /// A running pasta container's address, gateway and prefix for inspect; nil when the
    /// default network's helper is not pasta.
    static func pastaState(_ engine: Engine) -> PastaAddressing? {
        guard let network = try? pasta(engine.config, rootless: engine.isRootless) else { return nil }
        return try? pastaAddressing(network, settings: engine.config)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Config
import MonitorProtocol
import Platform
import Store

/// The default network (`bridge`) as Skiff makes it (docs/networking.md): user-mode networking by
/// slirp4netns, one helper per container run, owned by the container's monitor. This resolves
/// containers.conf into the monitor's `UserModeNetwork`, and the addresses the container's
/// /etc files name.
enum ContainerNetwork {
    /// The helper for a `bridge` container, from containers.conf: `[network]
    /// default_rootless_network_cmd` (slirp4netns; pasta: `ContainerNetwork+Pasta.swift`),
    /// `[engine] network_cmd_path` and `network_cmd_options` (Podman's slirp4netns options).
    static func userMode(_ settings: EngineConfig) throws -> UserModeNetwork {
        let command = settings.rootlessNetworkCommand
        switch command {
        // pasta is the rootless helper (`ContainerNetwork+Pasta.swift`); as root, slirp4netns.
        case "slirp4netns", "pasta": break
        default:
            throw EngineError(.invalidArgument, "invalid default_rootless_network_cmd option \"\(command)\"")
        }
        let path = settings.networkCommandPath.isEmpty ? findOnPath("slirp4netns") : settings.networkCommandPath
        guard let path, access(path, X_OK) == 0 else {
            throw EngineError(.internal, "could not find slirp4netns, the network namespace can't be configured: exec: \"slirp4netns\": executable file not found in $PATH")
        }
        var network = UserModeNetwork(program: path)
        do {
            try network.apply(options: settings.networkCommandOptions)
        } catch {
            throw EngineError(.invalidArgument, "network_cmd_options: " + error.message)
        }
        return network
    }

    /// `name` in $PATH (then /usr/bin, /usr/sbin).
    static func findOnPath(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin"] where !dir.isEmpty {
            let candidate = dir + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// What `host.containers.internal`, `host.docker.internal` and `host-gateway` name, as Podman
    /// works it out: containers.conf `host_containers_internal_ip`; else the gateway when it
    /// reaches the host's loopback (`allow_host_loopback=true`); else the host's first
    /// non-loopback IPv4 address (reached through the gateway's NAT); nil when there is none.
    static func hostAddress(_ network: UserModeNetwork, settings: EngineConfig) -> String? {
        if !settings.hostContainersInternalIP.isEmpty { return settings.hostContainersInternalIP }
        if network.allowHostLoopback { return network.gateway }
        return firstHostIPv4()
    }

    /// The first IPv4 address of an interface that is up and not loopback.
    static func firstHostIPv4() -> String? {
        PastaAddressing.interfaceAddresses().first?.address
    }
}

// MARK: - What inspect and the list show

extension ContainerNetwork {
    /// The ports a running container publishes (`<run>/ports`); none when it does not run.
    static func publishedPorts(of record: ContainerRecord, engine: Engine) -> [PublishedPort] {
        guard record.state == .running || record.state == .paused else { return [] }
        return ContainerPorts.published(runDirectory: ContainerPaths(engine: engine, id: record.id).run)
    }

    /// A running container's address, gateway and ports on the default network.
    static func state(of record: ContainerRecord, engine: Engine) -> ContainerView.NetworkState {
        var state = ContainerView.NetworkState()
        state.joined = engine.joinedNetworkViews(of: record)
        if let settings = (try? StoredContainer(record))?.json["EndpointSettings"] { state.predefinedSettings = settings }
        guard record.state == .running || record.state == .paused else { return state }
        state.running = true
        state.ports = publishedPorts(of: record, engine: engine)
        if (try? StoredContainer(record))?.networkMode == "bridge", let pasta = pastaState(engine) {
            (state.address, state.gateway, state.prefixLength) = (pasta.address, pasta.gateway, pasta.prefixLength)
            return state
        }
        guard (try? StoredContainer(record))?.networkMode == "bridge",
              let network = try? userMode(engine.config) else { return state }
        state.address = network.containerAddress
        state.gateway = network.gateway
        state.prefixLength = network.prefixLength
        if network.enableIPv6, let ipv6 = ContainerIPv6.read(pid: record.pid, interface: UserModeNetwork.interface) {
            (state.ipv6Address, state.ipv6PrefixLength, state.ipv6Gateway) = (ipv6.address, ipv6.prefixLength, ipv6.gateway)
        }
        return state
    }
}

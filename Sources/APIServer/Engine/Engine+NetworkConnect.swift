import MonitorProtocol
import Platform
import Store

/// `POST /networks/{id}/connect` and `/disconnect` (docs/networking.md, "Connect and
/// disconnect"): a container's endpoint rows added or removed with the checks of a create
/// (`Engine+NetworkJoin.swift`), and, while the container runs, its interface made or removed by
/// the per-user network keeper at once (`LiveEndpoints`). Nothing is left half-made: a live
/// attach that fails takes its row back.
extension Engine {
    /// moby's `ConnectContainerToNetwork`, with its refusals in its order.
    /// Not while the container starts (`startGate`): a start reads the endpoints when it spawns
    /// the monitor, so a row added meanwhile would be recorded but not made.
    func connectNetwork(_ term: String, container: String, endpoint: EndpointSettingsRequest) throws {
        let id = try currentContainer(container).id
        try startGate.withStart(of: id) { try connectNetwork(term, id: id, endpoint: endpoint) }
    }

    private func connectNetwork(_ term: String, id: String, endpoint: EndpointSettingsRequest) throws {
        let record = try currentContainer(id)
        let found = try findNetwork(term)
        try Engine.refuseRemoval(record)
        let mode = try StoredContainer(record).networkMode
        let modeIsDefault = Engine.isDefaultMode(mode)
        if mode.hasPrefix("container:") || mode == "host" {
            if case .predefined(let p) = found, p.name == mode {
                throw EngineError(.forbidden, "endpoint with name \(record.name) already exists in network \(p.name)")
            }
            throw EngineError(.invalidArgument, "container sharing network namespace with another container or host cannot be connected to any other network")
        }
        if case .predefined(let p) = found, p.name == "host" {
            throw EngineError(.invalidArgument, "cannot connect container to host network - container must be created in host network mode")
        }
        // (A user-defined network of its mode that it was disconnected from may be joined again:
        // the endpoint rows below decide.)
        if case .predefined = found, found.name == mode || (found.name == "bridge" && modeIsDefault) {
            throw EngineError(.forbidden, "endpoint with name \(record.name) already exists in network \(found.name)")
        }
        if found.name == "none" || mode == "none" {
            throw EngineError(.invalidArgument, "container cannot be connected to multiple networks with one of the networks in private (none) mode")
        }
        guard case .user(let network) = found else {
            throw EngineError(.invalidArgument, "network \(found.name): Skiff cannot connect a container on a user-defined network to the default network: its user-mode helper (slirp4netns or pasta) is made only for a container created on it; create the container on the default network and connect it to user-defined networks instead")
        }
        let joins = try withStore { try $0.endpoints(ofContainer: record.id) }
        if joins.contains(where: { $0.networkID == network.id }) {
            throw EngineError(.forbidden, "endpoint with name \(record.name) already exists in network \(network.name)")
        }
        try endpoint.validate()
        let join = NetworkJoin(network: network, aliases: endpoint.aliases,
                               address: try Engine.staticAddress(endpoint.ipv4Address, on: network),
                               ipv6Address: try Engine.staticIPv6Address(endpoint.ipv6Address, on: network), settings: endpoint)
        let running = (record.state == .running || record.state == .paused) && record.pid > 0
        let made: [NetworkEndpointRecord]
        do {
            made = try addEndpoints(containerID: record.id, [join])
        } catch let error as StoreError where error.code == .exists {
            throw EngineError(.forbidden, "endpoint with name \(record.name) already exists in network \(network.name)")
        }
        if running, let added = made.first {
            do {
                try Engine.withLiveEndpointLock {
                    guard let cidr = IPv4Subnet(cidr: added.address) else {
                        throw EngineError(.internal, "network \(network.name): the address \(added.address) does not parse")
                    }
                    let mtu = network.options["com.docker.network.driver.mtu"].flatMap { Int($0) } ?? 1500
                    var endpoint = NetworkEndpoint(interface: "", bridge: NetworkEndpoint.bridgeName(networkID: network.id),
                                                   address: IPv4Subnet.format(cidr.address), prefixLength: cidr.prefixLength,
                                                   gateway: network.gateway, mtu: mtu)
                    endpoint.isInternal = network.isInternal
                    endpoint.names = Engine.dnsNames(containerName: record.name, aliases: added.aliases, id: record.id)
                    endpoint.upstreams = dnsUpstreams(of: record)
                    Engine.applySettings(added.settings, to: &endpoint)
                    if let v6 = IPv6Subnet(cidr: added.ipv6Address) {
                        (endpoint.ipv6Address, endpoint.ipv6PrefixLength, endpoint.ipv6Gateway)
                            = (IPv6Subnet.format(v6.address), v6.prefixLength, network.ipv6Gateway)
                    }
                    _ = try liveEndpoints(record).attach(endpoint, networkName: network.name, firstIndex: modeIsDefault ? 1 : 0)
                }
            } catch {
                _ = try? withStore { try $0.removeEndpoint(containerID: record.id, networkID: network.id) }
                throw error
            }
        }
        if let added = made.first { updateHostsFile(of: record, endpoint: added, add: true) }
        try withStore { store in
            _ = try store.addEvent(type: "network", action: "connect", actorID: network.id,
                                   attributes: ["container": record.id, "name": network.name, "type": network.driver])
        }
    }

    /// moby's `DisconnectContainerFromNetwork`. `force`: the row goes even when the running
    /// container's interface could not be removed.
    func disconnectNetwork(_ term: String, container: String, force: Bool) throws {
        let id = try currentContainer(container).id
        try startGate.withStart(of: id) { try disconnectNetwork(term, id: id, force: force) }
    }

    private func disconnectNetwork(_ term: String, id: String, force: Bool) throws {
        let record = try currentContainer(id)
        let found = try findNetwork(term)
        try Engine.refuseRemoval(record)
        let mode = try StoredContainer(record).networkMode
        let running = (record.state == .running || record.state == .paused) && record.pid > 0
        let notConnected = running ? "container \(record.id) is not connected to network" : "container \(record.id) is not connected to the network"
        let network: NetworkRecord
        switch found {
        case .predefined(let p) where p.name == mode || (p.name == "bridge" && Engine.isDefaultMode(mode)):
            throw EngineError(.invalidArgument, "cannot disconnect container from \(p.name) network - container was created in \(p.name) network mode")
        case .predefined(let p):
            throw EngineError(.internal, "\(notConnected) \(p.name)")
        case .user(let r):
            network = r
        }
        guard let endpoint = try withStore({ try $0.endpoints(ofContainer: record.id) }).first(where: { $0.networkID == network.id }) else {
            throw EngineError(.internal, "\(notConnected) \(network.name)")
        }
        if running {
            do {
                try Engine.withLiveEndpointLock {
                    guard let subnet = IPv4Subnet(cidr: endpoint.address)?.masked else {
                        throw EngineError(.internal, "network \(network.name): the address \(endpoint.address) does not parse")
                    }
                    try liveEndpoints(record).detach(subnet: subnet, networkName: network.name)
                }
            } catch where force {
                // -f: the row goes anyway (the container keeps its interface until it stops).
            }
        }
        updateHostsFile(of: record, endpoint: endpoint, add: false)
        try withStore { store in
            _ = try store.removeEndpoint(containerID: record.id, networkID: network.id)
            _ = try store.addEvent(type: "network", action: "disconnect", actorID: network.id,
                                   attributes: ["container": record.id, "name": network.name, "type": network.driver])
        }
    }

    /// The default network's mode (`NetworkMode` as create stores it).
    static func isDefaultMode(_ mode: String) -> Bool { ["", "bridge", "default"].contains(mode) }

    /// moby's refusal for a container being removed.
    static func refuseRemoval(_ record: ContainerRecord) throws {
        if record.state == .removing || record.state == .dead {
            throw EngineError(.internal, "Container \(record.id) is marked for removal and cannot be connected or disconnected to the network")
        }
    }

    /// One live connect or disconnect at a time: two would pick the same free interface name.
    private static let liveEndpointLock = PosixMutex()

    private static func withLiveEndpointLock<T>(_ body: () throws -> T) throws -> T {
        liveEndpointLock.lock()
        defer { liveEndpointLock.unlock() }
        return try body()
    }

    func liveEndpoints(_ record: ContainerRecord) -> LiveEndpoints {
        LiveEndpoints(pid: record.pid, runtimeRoot: ContainerPaths(engine: self, id: record.id).runtimeRoot,
                      containerName: record.name, uplink: try? ContainerNetwork.userMode(config))
    }
}

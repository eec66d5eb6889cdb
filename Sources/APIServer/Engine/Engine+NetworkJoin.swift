#if canImport(Glibc)
import Glibc
#endif
import MonitorProtocol
import Platform
import Store

/// A user-defined network a container joins, checked at create (docs/networking.md,
/// "Containers on user-defined networks").
struct NetworkJoin: Sendable {
    var network: NetworkRecord
    var aliases: [String]
    /// `--ip` / `IPAMConfig.IPv4Address`; nil: one picked from the network's range.
    var address: UInt32?
    /// `--ip6` / `IPAMConfig.IPv6Address` on an IPv6 network; nil: one picked there.
    var ipv6Address: IPv6Subnet.Address? = nil
    /// The rest of what the client gave (links, MAC, what inspect echoes).
    var settings = EndpointSettingsRequest()
}

/// Containers joining user-defined networks: the checks and the address allocation of a create
/// (rows of the Store, one transaction), and what the monitor and inspect are told.
extension Engine {
    /// Whether `mode` names a user-defined network (by id, name or id prefix).
    func isUserNetwork(_ mode: String) -> Bool {
        if case .user? = try? findNetwork(mode) { return true }
        return false
    }

    /// The networks a create joins: `HostConfig.NetworkMode`'s when it is user-defined, then the
    /// other user-defined networks of `NetworkingConfig.EndpointsConfig`; with moby's refusals for
    /// an address or aliases on the default network and for a static address a network cannot give.
    func networkJoins(networkMode: String, settings: [String: EndpointSettingsRequest]) throws -> [NetworkJoin] {
        let predefined: Set<String> = ["bridge", "default", "none", "host", ""]
        for name in settings.keys.sorted() { try settings[name]?.validate() }
        if predefined.contains(networkMode) || networkMode.hasPrefix("container:") {
            for (name, endpoint) in settings where predefined.contains(name) || name == networkMode {
                if !endpoint.ipv4Address.isEmpty || !endpoint.ipv6Address.isEmpty {
                    throw EngineError(.invalidArgument, "user specified IP address is supported on user defined networks only")
                }
                if !endpoint.aliases.isEmpty {
                    throw EngineError(.invalidArgument, "network-scoped alias is supported only for containers in user defined networks")
                }
            }
            let others = settings.keys.filter { !predefined.contains($0) && $0 != networkMode }.sorted()
            if !others.isEmpty {
                throw EngineError(.invalidArgument, "Container cannot be connected to network endpoints: \((others + [networkMode]).joined(separator: ", "))")
            }
            return []
        }
        var joins: [NetworkJoin] = []
        let names = [networkMode] + settings.keys.filter { $0 != networkMode && !predefined.contains($0) }.sorted()
        for name in names {
            guard case .user(let network) = try findNetwork(name) else {
                throw EngineError(.invalidArgument, "Container cannot be connected to network endpoints: \(names.joined(separator: ", "))")
            }
            if joins.contains(where: { $0.network.id == network.id }) { continue }
            let endpoint = settings[name] ?? EndpointSettingsRequest()
            joins.append(NetworkJoin(network: network, aliases: endpoint.aliases,
                                     address: try Engine.staticAddress(endpoint.ipv4Address, on: network),
                                     ipv6Address: try Engine.staticIPv6Address(endpoint.ipv6Address, on: network),
                                     settings: endpoint))
        }
        return joins
    }

    /// A static address checked against the network (moby's `validateEndpointSettings`): nil
    /// when none was asked for.
    static func staticAddress(_ text: String, on network: NetworkRecord) throws -> UInt32? {
        guard !text.isEmpty else { return nil }
        guard let address = IPv4Subnet.parseAddress(text) else {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\ninvalid IPv4 address: \(text)")
        }
        guard network.isSubnetGiven else {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets")
        }
        guard let subnet = IPv4Subnet(cidr: network.subnet), subnet.contains(address),
              address != subnet.network, address != subnet.broadcast || subnet.prefixLength >= 31 else {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address \(text)")
        }
        return address
    }

    /// A static IPv6 address checked as moby checks it (`EndpointIPAMConfig.Validate`,
    /// `IsInRange`): nil when none was asked for.
    static func staticIPv6Address(_ text: String, on network: NetworkRecord) throws -> IPv6Subnet.Address? {
        guard !text.isEmpty else { return nil }
        guard let address = IPv6Subnet.parseAddress(text), address != IPv6Subnet.Address(0, 0) else {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\ninvalid IPv6 address: \(text)")
        }
        guard let subnet = IPv6Subnet(cidr: network.ipv6Subnet) else {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets")
        }
        guard subnet.contains(address), address != subnet.masked.address else {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address \(text)")
        }
        return address
    }

    /// An IPv6 address of `network` (CIDR) not in `taken`: `wanted`, or the lowest free one of its
    /// ip-range (else its subnet) past the subnet's first address, skipping the gateway; "" on an
    /// IPv4-only network.
    static func pickIPv6Address(on network: NetworkRecord, taken: [String], wanted: IPv6Subnet.Address?) throws -> String {
        guard let subnet = IPv6Subnet(cidr: network.ipv6Subnet) else { return "" }
        var used = Set(taken.compactMap { IPv6Subnet(cidr: $0)?.address })
        if let gateway = IPv6Subnet.parseAddress(network.ipv6Gateway) { used.insert(gateway) }
        if let wanted {
            guard !used.contains(wanted) else { throw EngineError(.forbidden, "Address already in use") }
            return IPv6Subnet.format(wanted) + "/\(subnet.prefixLength)"
        }
        let range = IPv6Subnet(cidr: network.ipv6Range) ?? subnet
        let start: UInt64 = range.masked.address == subnet.masked.address ? 1 : 0
        // The lowest free one among the first 65536 of the range (more containers than that on
        // one network are not expected; an endpoint table that large is refused below).
        for offset in start..<(start + 65536) {
            guard let candidate = range.address(at: offset) else { break }
            if !used.contains(candidate) { return IPv6Subnet.format(candidate) + "/\(subnet.prefixLength)" }
        }
        throw EngineError(.unavailable, "no available IPv6 addresses on this network's address pools: \(network.name) (\(network.id))")
    }

    /// The container's endpoint rows, all in one transaction: each address picked (the lowest
    /// free one of the network's range, skipping the gateway) or checked free (403 `Address
    /// already in use`, moby's); a full network 503 as moby's IPAM.
    @discardableResult
    func addEndpoints(containerID: String, _ joins: [NetworkJoin]) throws -> [NetworkEndpointRecord] {
        guard !joins.isEmpty else { return [] }
        let requests = joins.map { join in
            let wanted = join.address, wanted6 = join.ipv6Address
            var request = EndpointRequest(networkID: join.network.id, aliases: join.aliases, isStatic: wanted != nil) { network, existing in
                try Engine.pickAddress(on: network, taken: existing.map(\.address), wanted: wanted)
            }
            request.ipv6Address = { network, existing in
                try Engine.pickIPv6Address(on: network, taken: existing.map(\.ipv6Address), wanted: wanted6)
            }
            request.isIPv6Static = wanted6 != nil
            request.settings = join.settings.echo
            return request
        }
        return try withStore { store in try store.addEndpoints(containerID: containerID, requests) }
    }

    /// An address of `network` (CIDR text with the subnet's prefix) not in `taken`.
    static func pickAddress(on network: NetworkRecord, taken: [String], wanted: UInt32?) throws -> String {
        guard let subnet = IPv4Subnet(cidr: network.subnet) else {
            throw EngineError(.internal, "network \(network.name): its subnet \(network.subnet) does not parse")
        }
        var used = Set(taken.compactMap { IPv4Subnet(cidr: $0)?.address })
        if let gateway = IPv4Subnet.parseAddress(network.gateway) { used.insert(gateway) }
        used.formUnion(network.auxAddresses.values.compactMap(IPv4Subnet.parseAddress))
        if let wanted {
            guard !used.contains(wanted) else { throw EngineError(.forbidden, "Address already in use") }
            return IPv4Subnet.format(wanted) + "/\(subnet.prefixLength)"
        }
        let range = IPv4Subnet(cidr: network.ipRange) ?? subnet
        var candidate = range.network == subnet.network ? range.network + 1 : range.network
        let last = range.broadcast == subnet.broadcast ? range.broadcast - 1 : range.broadcast
        while candidate <= last {
            if !used.contains(candidate) { return IPv4Subnet.format(candidate) + "/\(subnet.prefixLength)" }
            if candidate == UInt32.max { break }
            candidate += 1
        }
        throw EngineError(.unavailable, "no available IPv4 addresses on this network's address pools: \(network.name) (\(network.id))")
    }

    /// A container's endpoints with their networks, the network of its `NetworkMode` first, then
    /// by name: the order of its interfaces (eth0, eth1, ...).
    func joinedNetworks(of record: ContainerRecord) -> [(endpoint: NetworkEndpointRecord, network: NetworkRecord)] {
        guard let endpoints = try? withStore({ try $0.endpoints(ofContainer: record.id) }), !endpoints.isEmpty,
              let networks = try? withStore({ try $0.networks() }) else { return [] }
        let mode = (try? StoredContainer(record))?.networkMode ?? ""
        var pairs: [(endpoint: NetworkEndpointRecord, network: NetworkRecord)] = endpoints.compactMap { endpoint in
            networks.first(where: { $0.id == endpoint.networkID }).map { (endpoint, $0) }
        }
        pairs.sort { a, b in
            let aFirst = a.network.name == mode || a.network.id == mode
            let bFirst = b.network.name == mode || b.network.id == mode
            if aFirst != bFirst { return aFirst }
            return a.network.name < b.network.name
        }
        return pairs
    }

    /// The endpoints a start gives the monitor. A container whose `NetworkMode` names a
    /// user-defined network and that has no endpoint at all (disconnected from it, or a create
    /// cut short between its row and its endpoints') joins that network again with a picked
    /// address, as moby's start gives a container without networks its mode's network; the
    /// network gone: 404 `network X not found`.
    func monitorEndpoints(starting record: ContainerRecord, networkMode: String) throws -> [NetworkEndpoint] {
        let endpoints = monitorEndpoints(of: record)
        let predefined: Set<String> = ["bridge", "default", "none", "host", ""]
        guard endpoints.isEmpty, !predefined.contains(networkMode), !networkMode.hasPrefix("container:") else { return endpoints }
        guard case .user(let network) = try findNetwork(networkMode) else { return endpoints }
        do {
            for added in try addEndpoints(containerID: record.id, [NetworkJoin(network: network, aliases: [], address: nil)]) {
                updateHostsFile(of: record, endpoint: added, add: true)
            }
        } catch let error as StoreError where error.code == .exists {
            // joined meanwhile: what is there is used
        }
        return monitorEndpoints(of: record)
    }

    /// What the monitor makes at each run: one interface per endpoint, the default route by the
    /// first network's gateway.
    /// A container on the default network connected to user-defined ones (`network connect`)
    /// keeps its default route (slirp4netns's or pasta's); its endpoints are eth1, eth2, ...
    func monitorEndpoints(of record: ContainerRecord) -> [NetworkEndpoint] {
        let onDefault = Engine.isDefaultMode((try? StoredContainer(record))?.networkMode ?? "")
        let upstreams = dnsUpstreams(of: record)
        return joinedNetworks(of: record).enumerated().compactMap { position, pair in
            let index = onDefault ? position + 1 : position
            guard let cidr = IPv4Subnet(cidr: pair.endpoint.address) else { return nil }
            let mtu = pair.network.options["com.docker.network.driver.mtu"].flatMap { Int($0) } ?? 1500
            var endpoint = NetworkEndpoint(interface: "eth\(index)", bridge: NetworkEndpoint.bridgeName(networkID: pair.network.id),
                                           address: IPv4Subnet.format(cidr.address), prefixLength: cidr.prefixLength,
                                           gateway: pair.network.gateway, mtu: mtu, defaultRoute: !onDefault && index == 0,
                                           names: Engine.dnsNames(containerName: record.name, aliases: pair.endpoint.aliases, id: record.id),
                                           upstreams: upstreams)
            endpoint.isInternal = pair.network.isInternal
            Engine.applySettings(pair.endpoint.settings, to: &endpoint)
            if let v6 = IPv6Subnet(cidr: pair.endpoint.ipv6Address) {
                (endpoint.ipv6Address, endpoint.ipv6PrefixLength, endpoint.ipv6Gateway)
                    = (IPv6Subnet.format(v6.address), v6.prefixLength, pair.network.ipv6Gateway)
            }
            return endpoint
        }
    }

    /// moby's EndpointID: an id of the container's place on the network, the same each time
    /// (network inspect's `Containers` shows the same).
    static func endpointID(networkID: String, containerID: String) -> String {
        Hex.lowercase(PortableSHA256.hash(Array((networkID + " " + containerID).utf8)))
    }

    /// Inspect's `NetworkSettings.Networks` entries of a container on user-defined networks
    /// (the addresses only while it runs, as moby).
    func joinedNetworkViews(of record: ContainerRecord) -> [ContainerView.JoinedNetwork] {
        let running = record.state == .running || record.state == .paused
        return joinedNetworks(of: record).map { pair in
            let cidr = IPv4Subnet(cidr: pair.endpoint.address)
            let address = cidr.map { IPv4Subnet.format($0.address) } ?? ""
            let ipv6 = IPv6Subnet(cidr: pair.endpoint.ipv6Address)
            return ContainerView.JoinedNetwork(
                name: pair.network.name, networkID: pair.network.id,
                endpointID: running ? Engine.endpointID(networkID: pair.network.id, containerID: record.id) : "",
                address: running ? address : "", prefixLength: running ? cidr?.prefixLength ?? 0 : 0,
                gateway: running ? pair.network.gateway : "",
                macAddress: Engine.configuredMAC(pair.endpoint.settings)
                    ?? (running ? NetworkEndpoint.macAddress(for: address) : ""),
                aliases: pair.endpoint.aliases + [Store.shortID(record.id)],
                ipamAddress: pair.endpoint.isStatic ? address : "",
                ipv6Address: running ? ipv6.map { IPv6Subnet.format($0.address) } ?? "" : "",
                ipv6PrefixLength: running ? ipv6?.prefixLength ?? 0 : 0,
                ipv6Gateway: running && ipv6 != nil ? pair.network.ipv6Gateway : "",
                ipamIPv6Address: pair.endpoint.isIPv6Static ? ipv6.map { IPv6Subnet.format($0.address) } ?? "" : "",
                settings: pair.endpoint.settings)
        }
    }
}

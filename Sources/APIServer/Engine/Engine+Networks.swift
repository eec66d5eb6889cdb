#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// User-defined networks as engine operations (docs/networking.md): rows in the Store, made,
/// listed, found, removed and pruned as moby does for its bridge driver. The predefined
/// networks are `PredefinedNetworks`.
extension Engine {
    /// A network a reference names: predefined or a row.
    enum FoundNetwork {
        case predefined(PredefinedNetworks.Network)
        case user(NetworkRecord)

        var id: String {
            switch self {
            case .predefined(let n): return n.id
            case .user(let r): return r.id
            }
        }
        var name: String {
            switch self {
            case .predefined(let n): return n.name
            case .user(let r): return r.name
            }
        }
    }

    /// A user-defined network with how many containers have an endpoint on it.
    struct NetworkEntry {
        var record: NetworkRecord
        var endpoints: Int
    }

    /// The subnet of the default network's user-mode uplink (slirp4netns's `--cidr`): a
    /// user-defined network may not take it.
    static let uplinkSubnet = IPv4Subnet(cidr: "10.0.2.0/24")!
    /// slirp4netns's IPv6 network (`--enable-ipv6`), likewise.
    static let uplinkIPv6Subnet = IPv6Subnet(cidr: "fd00::/64")!

    /// `POST /networks/create`: checks the request as moby does, picks a subnet when none is
    /// given (moby's default pools: 172.17-31.0.0/16, then 192.168.N.0/20), skipping those
    /// other networks, the uplink or the host's interfaces use, and records the network.
    func createNetwork(_ request: NetworkCreateRequest) throws -> NetworkRecord {
        try request.validate()
        let config = request.ipv4Config
        let hostSubnets = NetworkHostAddresses.subnets()
        let created = Store.nowNanos()
        let record = try withStore { store in
            try store.addNetwork { existing in
                if existing.contains(where: { $0.name == request.name }) {
                    throw EngineError(.conflict, "network with name \(request.name) already exists")
                }
                let taken = existing.compactMap { IPv4Subnet(cidr: $0.subnet) } + [Engine.uplinkSubnet]
                let subnet: IPv4Subnet
                if let given = config?.subnet {
                    if taken.contains(where: { $0.overlaps(given) }) {
                        throw EngineError(.forbidden, "Pool overlaps with other one on this address space")
                    }
                    subnet = given
                } else {
                    guard let free = Engine.defaultPools.first(where: { pool in
                        !taken.contains(where: { $0.overlaps(pool) }) && !hostSubnets.contains(where: { $0.overlaps(pool) })
                    }) else {
                        throw EngineError(.forbidden, "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
                    }
                    subnet = free
                }
                let gateway = config?.gateway ?? subnet.network + 1
                let aux = try request.reservedAuxAddresses(subnet: subnet, gateway: gateway)
                var ipv6 = ("", "", "")
                if let v6 = request.ipv6Config {
                    // slirp4netns's fd00::/64 is the uplink's (and the default network's) IPv6 network.
                    if existing.contains(where: { IPv6Subnet(cidr: $0.ipv6Subnet)?.overlaps(v6.subnet) ?? false })
                        || Engine.uplinkIPv6Subnet.overlaps(v6.subnet) {
                        throw EngineError(.forbidden, "Pool overlaps with other one on this address space")
                    }
                    guard let gateway6 = v6.gateway ?? v6.subnet.address(at: 1) else {
                        throw EngineError(.forbidden, "no available IPv6 addresses on this network's address pools: \(request.name)")
                    }
                    ipv6 = (v6.subnet.description, IPv6Subnet.format(gateway6), v6.ipRange?.description ?? "")
                }
                var record = NetworkRecord(id: ContainerNames.newID(), name: request.name, created: created, driver: "bridge",
                                     subnet: subnet.description, gateway: IPv4Subnet.format(gateway),
                                     ipRange: config?.ipRange?.description ?? "", isInternal: request.isInternal,
                                     isAttachable: request.isAttachable, labels: request.labels, options: request.options,
                                     isSubnetGiven: config?.subnet != nil)
                record.auxAddresses = aux
                record.ipamOptions = request.ipamOptions
                (record.ipv6Subnet, record.ipv6Gateway, record.ipv6Range) = ipv6
                return record
            }
        }
        try withStore { store in
            _ = try store.addEvent(type: "network", action: "create", actorID: record.id,
                                   attributes: ["name": record.name, "type": record.driver])
        }
        return record
    }

    /// moby's default address pools for local networks, in the order it takes them.
    static let defaultPools: [IPv4Subnet] =
        (17...31).map { IPv4Subnet(address: UInt32(172) << 24 | UInt32($0) << 16, prefixLength: 16) }
        + stride(from: 0, to: 256, by: 16).map { IPv4Subnet(address: UInt32(192) << 24 | UInt32(168) << 16 | UInt32($0) << 8, prefixLength: 20) }

    /// Every user-defined network with its endpoint count.
    func networkEntries() throws -> [NetworkEntry] {
        try withStore { store in
            let counts = try store.endpointCounts()
            return try store.networks().map { NetworkEntry(record: $0, endpoints: counts[$0.id] ?? 0) }
        }
    }

    /// The network `term` names, as moby's FindNetwork: full id, then full name, then a unique
    /// id prefix, across predefined and user-defined networks; 404 `network X not found`.
    func findNetwork(_ term: String) throws -> FoundNetwork {
        let all = PredefinedNetworks.all.map(FoundNetwork.predefined) + (try networkEntries().map { FoundNetwork.user($0.record) })
        if let byID = all.first(where: { $0.id == term }) { return byID }
        if let byName = all.first(where: { $0.name == term }) { return byName }
        let byPrefix = term.isEmpty ? [] : all.filter { $0.id.hasPrefix(term) }
        if byPrefix.count > 1 {
            throw EngineError(.invalidArgument, "network \(term) is ambiguous (\(byPrefix.count) matches found based on ID prefix)")
        }
        guard let found = byPrefix.first else { throw EngineError(.notFound, "network \(term) not found") }
        return found
    }

    /// `DELETE /networks/{id}`: a predefined network is 403 as moby; so is one a container (running
    /// or not) is attached to.
    func removeNetwork(_ term: String) throws {
        let record: NetworkRecord
        switch try findNetwork(term) {
        case .predefined(let network):
            throw EngineError(.forbidden, "\(network.name) is a pre-defined network and cannot be removed")
        case .user(let r):
            record = r
        }
        do {
            try withStore { store in try store.deleteNetwork(id: record.id) }
        } catch let error as StoreError where error.code == .invalidState {
            throw EngineError(.forbidden, error.message)
        }
        try withStore { store in
            _ = try store.addEvent(type: "network", action: "destroy", actorID: record.id,
                                   attributes: ["name": record.name, "type": record.driver])
        }
    }

    /// `POST /networks/prune`: user-defined networks no container is attached to, made before
    /// `until` (unix nanoseconds) and matching the label filters. Returns their names.
    func pruneNetworks(until: Int64?, matches: ([String: String]) -> Bool) throws -> [String] {
        var removed: [String] = []
        for entry in try networkEntries() where entry.endpoints == 0 && matches(entry.record.labels) {
            if let until, entry.record.created > until { continue }
            do {
                try removeNetwork(entry.record.id)
            } catch let error as EngineError where error.code == .forbidden || error.code == .notFound {
                continue    // attached or removed since the list was read
            }
            removed.append(entry.record.name)
        }
        return removed
    }

    /// A container on a network as its inspect shows it.
    struct EndpointView {
        var containerID: String
        var name: String
        var endpointID: String
        var address: String
        /// The MAC address asked for; nil: Docker's 02:42 form of the address.
        var mac: String? = nil
        var ipv6Address = ""
    }

    /// The endpoints of the running (or paused) containers on a user-defined network: moby
    /// shows a container's endpoint only while it runs.
    func endpointViews(onNetwork networkID: String) throws -> [EndpointView] {
        try withStore { store in
            try store.endpoints(onNetwork: networkID).compactMap { endpoint in
                guard let container = try store.container(id: endpoint.containerID),
                      container.state == .running || container.state == .paused else { return nil }
                let endpointID = Engine.endpointID(networkID: networkID, containerID: endpoint.containerID)
                return EndpointView(containerID: container.id, name: container.name, endpointID: endpointID, address: endpoint.address,
                                    mac: Engine.configuredMAC(endpoint.settings), ipv6Address: endpoint.ipv6Address)
            }
        }
    }
}

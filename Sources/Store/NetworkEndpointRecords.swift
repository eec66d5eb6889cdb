import Platform

/// A container's endpoints on several networks, made in one transaction (`POST
/// /containers/create` with `--network NAME` and `NetworkingConfig.EndpointsConfig`).
public struct EndpointRequest: Sendable {
    public var networkID: String
    public var aliases: [String]
    public var isStatic: Bool
    /// The settings inspect echoes (`NetworkEndpointRecord.settings`).
    public var settings: JSON = .object([])
    /// Given the network and every endpoint it has, the container's address (CIDR): one picked
    /// from the free ones, or the one asked for, checked; throws when there is none.
    public var address: @Sendable (NetworkRecord, [NetworkEndpointRecord]) throws -> String
    /// Likewise the IPv6 address (CIDR; "" on an IPv4-only network), and whether it was asked for.
    public var ipv6Address: @Sendable (NetworkRecord, [NetworkEndpointRecord]) throws -> String = { _, _ in "" }
    public var isIPv6Static = false

    public init(networkID: String, aliases: [String], isStatic: Bool,
                address: @escaping @Sendable (NetworkRecord, [NetworkEndpointRecord]) throws -> String) {
        self.networkID = networkID
        self.aliases = aliases
        self.isStatic = isStatic
        self.address = address
    }
}

extension Store {
    /// Adds the container's endpoints, all or none, under one write lock, so that two creates
    /// never take one address; returns them in the order asked. A network gone is `.notFound`;
    /// the container already on one `.exists`.
    public func addEndpoints(containerID: String, _ requests: [EndpointRequest]) throws -> [NetworkEndpointRecord] {
        try database.transaction {
            var made: [NetworkEndpointRecord] = []
            for request in requests {
                guard let network = try network(id: request.networkID) else {
                    throw StoreError(.notFound, "network \(request.networkID) not found")
                }
                let existing = try endpoints(onNetwork: network.id)
                if existing.contains(where: { $0.containerID == containerID }) {
                    throw StoreError(.exists, "endpoint with name \(containerID) already exists in network \(network.name)")
                }
                var endpoint = NetworkEndpointRecord(networkID: network.id, containerID: containerID,
                                                     address: try request.address(network, existing),
                                                     aliases: request.aliases, isStatic: request.isStatic)
                endpoint.ipv6Address = try request.ipv6Address(network, existing)
                endpoint.isIPv6Static = request.isIPv6Static
                endpoint.settings = request.settings
                try insertEndpoint(endpoint)
                made.append(endpoint)
            }
            return made
        }
    }

    /// Removes every endpoint of the container (its removal; the rows also go with the
    /// container's row, by the foreign key).
    public func removeEndpoints(ofContainer containerID: String) throws {
        try database.query("DELETE FROM network_endpoints WHERE container_id = ?", [.text(containerID)])
    }
}

import Platform

/// A user-defined network (`POST /networks/create`, migration 13). The predefined `bridge`,
/// `host` and `none` are not rows. Addresses are IPv4 text as Docker shows them.
public struct NetworkRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Unix nanoseconds.
    public var created: Int64
    public var driver: String
    /// CIDR, `172.18.0.0/16`.
    public var subnet: String
    /// An address in `subnet`.
    public var gateway: String
    /// CIDR inside `subnet` the addresses of containers come from; "" for the whole subnet.
    public var ipRange: String
    public var isInternal: Bool
    public var isAttachable: Bool
    /// The subnet came from the request (not the default pools): static addresses are allowed.
    public var isSubnetGiven: Bool
    public var labels: [String: String]
    public var options: [String: String]
    /// `IPAM.Config[0].AuxiliaryAddresses` (migration 15): names of addresses no container gets.
    public var auxAddresses: [String: String] = [:]
    /// `IPAM.Options` as given; nil when the request had none (inspect shows null, as moby).
    public var ipamOptions: [String: String]? = nil
    /// IPv6 (`EnableIPv6`, migration 16): the subnet (CIDR), its gateway and ip-range; "" on an
    /// IPv4-only network.
    public var ipv6Subnet = ""
    public var ipv6Gateway = ""
    public var ipv6Range = ""

    public init(id: String, name: String, created: Int64, driver: String, subnet: String, gateway: String,
                ipRange: String = "", isInternal: Bool = false, isAttachable: Bool = false,
                labels: [String: String] = [:], options: [String: String] = [:], isSubnetGiven: Bool = false) {
        self.id = id
        self.name = name
        self.created = created
        self.driver = driver
        self.subnet = subnet
        self.gateway = gateway
        self.ipRange = ipRange
        self.isInternal = isInternal
        self.isAttachable = isAttachable
        self.isSubnetGiven = isSubnetGiven
        self.labels = labels
        self.options = options
    }
}

/// A container's place on a user-defined network.
public struct NetworkEndpointRecord: Sendable, Equatable {
    public var networkID: String
    public var containerID: String
    /// CIDR: the container's address with the subnet's prefix length (`172.18.0.2/16`).
    public var address: String
    public var aliases: [String]
    /// The address was asked for (`--ip`, `IPAMConfig.IPv4Address`).
    public var isStatic: Bool
    /// The settings as the client gave them that inspect echoes (migration 15): a JSON object
    /// with `Links`, `DriverOpts`, `LinkLocalIPs`, `MacAddress` when given.
    public var settings: JSON = .object([])
    /// CIDR on an IPv6 network (`fd12::2/64`); "" otherwise.
    public var ipv6Address = ""
    /// The IPv6 address was asked for (`--ip6`, `IPAMConfig.IPv6Address`).
    public var isIPv6Static = false

    public init(networkID: String, containerID: String, address: String, aliases: [String] = [], isStatic: Bool = false) {
        self.networkID = networkID
        self.containerID = containerID
        self.address = address
        self.aliases = aliases
        self.isStatic = isStatic
    }
}

extension Store {
    /// Adds the network `make` returns, given every network there is, under one write lock: the
    /// caller checks names and subnets against them (and picks a free subnet) with no other
    /// create in between. A name in use is `.exists` with moby's message.
    @discardableResult
    public func addNetwork(_ make: ([NetworkRecord]) throws -> NetworkRecord) throws -> NetworkRecord {
        try database.transaction {
            let existing = try networks()
            let record = try make(existing)
            if existing.contains(where: { $0.name == record.name }) {
                throw StoreError(.exists, "network with name \(record.name) already exists")
            }
            try database.query("""
                INSERT INTO networks (id, name, created, driver, subnet, gateway, ip_range, internal, attachable, labels, options,
                                      subnet_given, ipv6_subnet, ipv6_gateway, ipv6_range)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(record.id), .text(record.name), .integer(record.created), .text(record.driver),
                      .text(record.subnet), .text(record.gateway), .text(record.ipRange),
                      .integer(record.isInternal ? 1 : 0), .integer(record.isAttachable ? 1 : 0),
                      .blob(Store.stringMap(record.labels).bytes), .blob(Store.stringMap(record.options).bytes),
                      .integer(record.isSubnetGiven ? 1 : 0), .text(record.ipv6Subnet), .text(record.ipv6Gateway),
                      .text(record.ipv6Range)])
            try writeIPAMExtras(of: record)
            return record
        }
    }

    /// Every user-defined network, oldest first.
    public func networks() throws -> [NetworkRecord] {
        try networkRecords(where: "", [])
    }

    public func network(id: String) throws -> NetworkRecord? {
        try networkRecords(where: "WHERE id = ?", [.text(id)]).first
    }

    /// Removes the row; `.invalidState` while a container (running or not) has an endpoint on
    /// it, with moby's message; `.notFound` when it is gone.
    public func deleteNetwork(id: String) throws {
        try database.transaction {
            guard let record = try network(id: id) else { throw StoreError(.notFound, "network \(id) not found") }
            if try !endpoints(onNetwork: id).isEmpty {
                throw StoreError(.invalidState,
                                 "error while removing network: network \(record.name) id \(record.id) has active endpoints")
            }
            try database.query("DELETE FROM networks WHERE id = ?", [.text(id)])
        }
    }

    /// Adds the container's endpoint; `address` is given every endpoint the network has, under
    /// one write lock, and returns the container's address (it picks a free one or checks the
    /// one asked for). A container already on the network is `.exists`.
    @discardableResult
    public func addEndpoint(networkID: String, containerID: String, aliases: [String], isStatic: Bool,
                            isIPv6Static: Bool = false,
                            address: ([NetworkEndpointRecord]) throws -> String,
                            ipv6Address: ([NetworkEndpointRecord]) throws -> String = { _ in "" }) throws -> NetworkEndpointRecord {
        try database.transaction {
            guard let record = try network(id: networkID) else { throw StoreError(.notFound, "network \(networkID) not found") }
            let existing = try endpoints(onNetwork: networkID)
            if existing.contains(where: { $0.containerID == containerID }) {
                throw StoreError(.exists, "endpoint with name \(containerID) already exists in network \(record.name)")
            }
            var endpoint = NetworkEndpointRecord(networkID: networkID, containerID: containerID, address: try address(existing),
                                                 aliases: aliases, isStatic: isStatic)
            endpoint.ipv6Address = try ipv6Address(existing)
            endpoint.isIPv6Static = isIPv6Static
            try insertEndpoint(endpoint)
            return endpoint
        }
    }

    func insertEndpoint(_ endpoint: NetworkEndpointRecord) throws {
        try database.query("""
            INSERT INTO network_endpoints (network_id, container_id, address, aliases, static, settings, ipv6_address, ipv6_static)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(endpoint.networkID), .text(endpoint.containerID), .text(endpoint.address),
                  .blob(JSON.array(endpoint.aliases.map { JSON.string($0) }).bytes), .integer(endpoint.isStatic ? 1 : 0),
                  .blob(endpoint.settings.bytes), .text(endpoint.ipv6Address), .integer(endpoint.isIPv6Static ? 1 : 0)])
    }

    /// Removes the container's endpoint; false when it had none there.
    @discardableResult
    public func removeEndpoint(networkID: String, containerID: String) throws -> Bool {
        try database.query("DELETE FROM network_endpoints WHERE network_id = ? AND container_id = ?",
                           [.text(networkID), .text(containerID)])
        return database.changes > 0
    }

    public func endpoints(onNetwork networkID: String) throws -> [NetworkEndpointRecord] {
        try endpointRecords(where: "WHERE network_id = ?", [.text(networkID)])
    }

    public func endpoints(ofContainer containerID: String) throws -> [NetworkEndpointRecord] {
        try endpointRecords(where: "WHERE container_id = ?", [.text(containerID)])
    }

    /// How many endpoints each network has (networks with none are absent).
    public func endpointCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try database.query("SELECT network_id, count(*) FROM network_endpoints GROUP BY network_id", []) {
            if let id = row.text(0) { counts[id] = Int(row.int(1) ?? 0) }
        }
        return counts
    }

    func networkRecords(where filter: String, _ arguments: [SQLValue]) throws -> [NetworkRecord] {
        try database.query("""
            SELECT id, name, created, driver, subnet, gateway, ip_range, internal, attachable, labels, options, subnet_given,
                   aux_addresses, ipam_options, ipv6_subnet, ipv6_gateway, ipv6_range
            FROM networks \(filter) ORDER BY created, name
            """, arguments).compactMap { row in
                guard let id = row.text(0), let name = row.text(1) else { return nil }
                var labels: [String: String] = [:], options: [String: String] = [:]
                if case .blob(let bytes) = row.values[9] { labels = Store.decodeStringMap(bytes) }
                if case .blob(let bytes) = row.values[10] { options = Store.decodeStringMap(bytes) }
                var record = NetworkRecord(id: id, name: name, created: row.int(2) ?? 0, driver: row.text(3) ?? "bridge",
                                           subnet: row.text(4) ?? "", gateway: row.text(5) ?? "", ipRange: row.text(6) ?? "",
                                           isInternal: (row.int(7) ?? 0) != 0, isAttachable: (row.int(8) ?? 0) != 0,
                                           labels: labels, options: options, isSubnetGiven: (row.int(11) ?? 0) != 0)
                Store.readIPAMExtras(aux: row.values[12], options: row.values[13], into: &record)
                (record.ipv6Subnet, record.ipv6Gateway, record.ipv6Range) = (row.text(14) ?? "", row.text(15) ?? "", row.text(16) ?? "")
                return record
            }
    }

    func endpointRecords(where filter: String, _ arguments: [SQLValue]) throws -> [NetworkEndpointRecord] {
        try database.query("SELECT network_id, container_id, address, aliases, static, settings, ipv6_address, ipv6_static FROM network_endpoints \(filter) ORDER BY container_id",
                           arguments).compactMap { row in
            guard let networkID = row.text(0), let containerID = row.text(1) else { return nil }
            var aliases: [String] = []
            if case .blob(let bytes) = row.values[3], case .array(let items)? = try? JSONParser.parse(bytes) {
                aliases = items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            }
            var endpoint = NetworkEndpointRecord(networkID: networkID, containerID: containerID, address: row.text(2) ?? "",
                                                 aliases: aliases, isStatic: (row.int(4) ?? 0) != 0)
            if case .blob(let bytes) = row.values[5], let settings = try? JSONParser.parse(bytes) { endpoint.settings = settings }
            (endpoint.ipv6Address, endpoint.isIPv6Static) = (row.text(6) ?? "", (row.int(7) ?? 0) != 0)
            return endpoint
        }
    }
}

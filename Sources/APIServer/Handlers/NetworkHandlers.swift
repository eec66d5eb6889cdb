#if canImport(Glibc)
import Glibc
#endif
import MonitorProtocol
import Platform
import Store

/// `/networks` (docs/networking.md): moby's `NetworkList`, `NetworkInspect`, `NetworkCreate`,
/// `NetworkDelete`, `NetworkPrune`: the predefined `bridge`, `host` and `none`
/// (`PredefinedNetworks`) and user-defined bridge networks (`Engine+Networks.swift`).
enum NetworkHandlers {
    static let listFilters: Set<String> = ["name", "id", "driver", "type", "scope", "label", "dangling"]

    // MARK: - GET /networks

    @Sendable static func networkList(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: listFilters)
        try PredefinedNetworks.checkTypeFilter(filters)
        let predefined = try PredefinedNetworks.select(filters).map { PredefinedNetworks.view($0) }
        let user = try engine.networkEntries().filter { try select($0, filters) }.map { view($0.record) }
        return .json(.array(predefined + user))
    }

    /// moby's list filters for a user-defined network.
    static func select(_ entry: Engine.NetworkEntry, _ filters: Filters) throws -> Bool {
        let n = entry.record
        let names = filters.values("name"), ids = filters.values("id"), drivers = filters.values("driver")
        let types = filters.values("type"), scopes = filters.values("scope")
        if !names.isEmpty && !names.contains(where: { VolumeHandlers.nameMatches($0, n.name) }) { return false }
        if !ids.isEmpty && !ids.contains(where: { n.id.hasPrefix($0) || VolumeHandlers.nameMatches($0, n.id) }) { return false }
        if !drivers.isEmpty && !drivers.contains(n.driver) { return false }
        if !types.isEmpty && !types.contains("custom") { return false }
        if !scopes.isEmpty && !scopes.contains("local") { return false }
        if let dangling = try filters.bool("dangling"), dangling != (entry.endpoints == 0) { return false }
        return filters.labelsMatch(n.labels)
    }

    // MARK: - GET /networks/{id}

    @Sendable static func networkInspect(_ request: Request, _ engine: Engine) throws -> Response {
        switch try engine.findNetwork(request.parameters["id"] ?? "") {
        case .predefined(let network):
            return .json(PredefinedNetworks.view(network, containers: try engine.containers(onNetwork: network.name)))
        case .user(let record):
            return .json(view(record, containers: try engine.endpointViews(onNetwork: record.id)))
        }
    }

    // MARK: - POST /networks/create

    @Sendable static func networkCreate(_ request: Request, _ engine: Engine) throws -> Response {
        let record = try engine.createNetwork(try NetworkCreateRequest.decode(request.body))
        return .json(.object([JSON.Member("Id", .string(record.id)), JSON.Member("Warning", "")]), status: .created)
    }

    // MARK: - DELETE /networks/{id}

    @Sendable static func networkDelete(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.removeNetwork(request.parameters["id"] ?? "")
        return Response(status: .noContent)
    }

    // MARK: - POST /networks/prune

    @Sendable static func networkPrune(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["until", "label", "label!"])
        let until = try filters.values("until").first.map(Filters.parseUntil).map { $0 * 1_000_000_000 }
        let removed = try engine.pruneNetworks(until: until, matches: filters.labelsMatch)
        return .json(.object([JSON.Member("NetworksDeleted", removed.isEmpty ? .null : JSON(removed))]))
    }

    // MARK: - the Network object

    /// moby's `network.Inspect` for a user-defined network; `containers` only for inspect.
    static func view(_ record: NetworkRecord, containers: [Engine.EndpointView]? = nil) -> JSON {
        func map(_ m: [String: String]) -> JSON {
            .object(m.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) })
        }
        var config: [JSON.Member] = [JSON.Member("Subnet", .string(record.subnet))]
        if !record.ipRange.isEmpty { config.append(JSON.Member("IPRange", .string(record.ipRange))) }
        config.append(JSON.Member("Gateway", .string(record.gateway)))
        if !record.auxAddresses.isEmpty { config.append(JSON.Member("AuxiliaryAddresses", map(record.auxAddresses))) }
        var configs: [JSON] = [.object(config)]
        if !record.ipv6Subnet.isEmpty {
            var v6: [JSON.Member] = [JSON.Member("Subnet", .string(record.ipv6Subnet))]
            if !record.ipv6Range.isEmpty { v6.append(JSON.Member("IPRange", .string(record.ipv6Range))) }
            v6.append(JSON.Member("Gateway", .string(record.ipv6Gateway)))
            configs.append(.object(v6))
        }
        let created = timespec(tv_sec: Int(record.created / 1_000_000_000), tv_nsec: Int(record.created % 1_000_000_000))
        return .object([
            JSON.Member("Name", .string(record.name)), JSON.Member("Id", .string(record.id)),
            JSON.Member("Created", .string(Timestamp.rfc3339Nano(created))), JSON.Member("Scope", "local"),
            JSON.Member("Driver", .string(record.driver)), JSON.Member("EnableIPv6", .bool(!record.ipv6Subnet.isEmpty)),
            JSON.Member("IPAM", .object([JSON.Member("Driver", "default"), JSON.Member("Options", record.ipamOptions.map(map) ?? .null),
                                         JSON.Member("Config", .array(configs))])),
            JSON.Member("Internal", .bool(record.isInternal)), JSON.Member("Attachable", .bool(record.isAttachable)),
            JSON.Member("Ingress", false), JSON.Member("ConfigFrom", .object([JSON.Member("Network", "")])),
            JSON.Member("ConfigOnly", false),
            JSON.Member("Containers", .object((containers ?? []).map { c in
                JSON.Member(c.containerID, .object([JSON.Member("Name", .string(c.name)), JSON.Member("EndpointID", .string(c.endpointID)),
                                                    JSON.Member("MacAddress", .string(c.mac ?? NetworkEndpoint.macAddress(for: String(c.address.prefix { $0 != "/" })))),
                                                    JSON.Member("IPv4Address", .string(c.address)),
                                                    JSON.Member("IPv6Address", .string(c.ipv6Address))]))
            })),
            JSON.Member("Options", map(record.options)), JSON.Member("Labels", map(record.labels)),
        ])
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// The networks every Docker engine lists (`docker network ls`): `bridge` (Skiff's default
/// network, user-mode by slirp4netns: docs/networking.md), `host` and `none`. User-defined
/// networks are not built yet; these three are fixed, their ids derived from their names.
enum PredefinedNetworks {
    struct Network {
        var name: String
        var driver: String
        var id: String { Hex.lowercase(PortableSHA256.hash(Array(("skiff predefined network " + name).utf8))) }
    }

    static let all = [Network(name: "bridge", driver: "bridge"), Network(name: "host", driver: "host"),
                      Network(name: "none", driver: "null")]

    /// The network named or identified (full id or a unique prefix) by `reference`; 404 as moby.
    static func find(_ reference: String) throws -> Network {
        if let byName = all.first(where: { $0.name == reference }) { return byName }
        let matches = reference.isEmpty ? [] : all.filter { $0.id.hasPrefix(reference) }
        guard matches.count == 1 else { throw EngineError(.notFound, "network \(reference) not found") }
        return matches[0]
    }

    /// `GET /networks`'s filters, as moby applies them to its predefined networks.
    static func select(_ filters: Filters) throws -> [Network] {
        let dangling = try filters.bool("dangling")
        return all.filter { n in
            let names = filters.values("name"), ids = filters.values("id"), drivers = filters.values("driver")
            let types = filters.values("type"), scopes = filters.values("scope")
            if !names.isEmpty && !names.contains(where: { n.name.contains($0) }) { return false }
            if !ids.isEmpty && !ids.contains(where: { n.id.hasPrefix($0) }) { return false }
            if !drivers.isEmpty && !drivers.contains(n.driver) { return false }
            if !types.isEmpty && !types.contains("builtin") { return false }
            if !scopes.isEmpty && !scopes.contains("local") { return false }
            if !filters.values("label").isEmpty { return false }   // none carries a label
            if dangling == true { return false }                    // predefined networks are never dangling
            return true
        }
    }

    static func checkTypeFilter(_ filters: Filters) throws {
        for value in filters.values("type") where value != "builtin" && value != "custom" {
            throw EngineError(.invalidArgument, "invalid filter: 'type'='\(value)'")
        }
    }

    /// Docker's network object; `containers`: id -> (name, IPv4 with its prefix), for inspect.
    static func view(_ network: Network, containers: [(id: String, name: String, address: String)]? = nil) -> JSON {
        var ipamConfig: [JSON] = []
        if network.name == "bridge" {
            ipamConfig = [.object([JSON.Member("Subnet", "10.0.2.0/24"), JSON.Member("Gateway", "10.0.2.2")])]
        }
        var members: [JSON.Member] = [
            JSON.Member("Name", .string(network.name)), JSON.Member("Id", .string(network.id)),
            JSON.Member("Created", .string(ContainerView.zeroTime)), JSON.Member("Scope", "local"),
            JSON.Member("Driver", .string(network.driver)), JSON.Member("EnableIPv6", false),
            JSON.Member("IPAM", .object([JSON.Member("Driver", "default"), JSON.Member("Options", .null),
                                         JSON.Member("Config", .array(ipamConfig))])),
            JSON.Member("Internal", false), JSON.Member("Attachable", false), JSON.Member("Ingress", false),
            JSON.Member("ConfigFrom", .object([JSON.Member("Network", "")])), JSON.Member("ConfigOnly", false),
        ]
        members.append(JSON.Member("Containers", .object((containers ?? []).map { c in
            JSON.Member(c.id, .object([JSON.Member("Name", .string(c.name)), JSON.Member("EndpointID", ""),
                                       JSON.Member("MacAddress", ""), JSON.Member("IPv4Address", .string(c.address)),
                                       JSON.Member("IPv6Address", "")]))
        })))
        members += [JSON.Member("Options", .object([])), JSON.Member("Labels", .object([]))]
        return .object(members)
    }
}

extension Engine {
    /// The running containers on a predefined network, for its inspect: on `bridge` with the
    /// address their user-mode network gives them.
    func containers(onNetwork name: String) throws -> [(id: String, name: String, address: String)] {
        let records = try withStore { try $0.containers(withConfig: true) }
        var result: [(id: String, name: String, address: String)] = []
        for record in records where record.state == .running || record.state == .paused {
            guard let stored = try? StoredContainer(record), stored.networkMode == name else { continue }
            var address = ""
            if name == "bridge" {
                let state = ContainerNetwork.state(of: record, engine: self)
                if !state.address.isEmpty { address = "\(state.address)/\(state.prefixLength)" }
            }
            result.append((record.id, record.name, address))
        }
        return result
    }
}

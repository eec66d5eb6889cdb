import MonitorProtocol
import Platform
import Store

/// What an endpoint's stored settings (`NetworkEndpointRecord.settings`, the client's
/// `EndpointSettings` as given) change in what the monitor or the keeper makes: the MAC address
/// and the link aliases the keeper's DNS responder answers for this container alone
/// (docs/networking.md, "Containers on user-defined networks").
extension Engine {
    /// The MAC address the client asked for, normalized; nil when none.
    static func configuredMAC(_ settings: JSON) -> String? {
        guard case .string(let mac)? = settings["MacAddress"], !mac.isEmpty else { return nil }
        return EndpointSettingsRequest.normalizedMAC(mac)
    }

    /// The links as given (`NAME[:ALIAS]`).
    static func links(_ settings: JSON) -> [String] {
        guard case .array(let items)? = settings["Links"] else { return [] }
        return items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
    }

    /// `ALIAS=NAME` pairs of the links whose both sides are names the responder can serve
    /// (lowercase host names; others are not served, as names with a space are not).
    static func linkAliases(_ settings: JSON) -> [String] {
        links(settings).compactMap { link in
            guard let parsed = try? EndpointSettingsRequest.parseLink(link),
                  let alias = NetworkEndpoint.dnsNames([parsed.alias]).first,
                  let name = NetworkEndpoint.dnsNames([parsed.name]).first else { return nil }
            return alias + "=" + name
        }
    }

    static func applySettings(_ settings: JSON, to endpoint: inout NetworkEndpoint) {
        endpoint.mac = configuredMAC(settings)
        endpoint.links = Array(linkAliases(settings).prefix(NetworkEndpoint.maxLinks))
    }
}

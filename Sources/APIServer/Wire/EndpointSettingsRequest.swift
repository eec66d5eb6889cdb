import Platform

/// moby's `network.EndpointSettings` as a client asks for a container's place on a network
/// (`NetworkingConfig.EndpointsConfig.NAME` at create, `EndpointConfig` of `/networks/{id}/connect`):
/// the fields Skiff acts on or echoes in inspect (docs/networking.md).
struct EndpointSettingsRequest: Sendable, Equatable {
    var aliases: [String] = []
    /// `IPAMConfig.IPv4Address`; "" for one picked from the network's range.
    var ipv4Address = ""
    /// `Links`, as given (`NAME[:ALIAS]`): on a user-defined network ALIAS names NAME for this
    /// container alone (the keeper's DNS responder).
    var links: [String] = []
    /// `DriverOpts`; nil when not given (inspect's null).
    var driverOpts: [String: String]?
    /// `IPAMConfig.LinkLocalIPs`, shown as given.
    var linkLocalIPs: [String] = []
    /// `MacAddress`: the interface's MAC on a user-defined network; "" for Docker's 02:42 form.
    var macAddress = ""
    /// `IPAMConfig.IPv6Address` (`--ip6`); "" for one picked on an IPv6 network.
    var ipv6Address = ""

    /// Decodes one `EndpointSettings` object at `path` (a wrong type is Go's 400).
    static func decode(_ json: JSON, _ d: GoDecoder, path: String) throws -> EndpointSettingsRequest {
        let fields = try d.object(json, path)
        var settings = EndpointSettingsRequest()
        settings.aliases = try d.strings(fields, "Aliases", path)
        settings.links = try d.strings(fields, "Links", path)
        if fields["driveropts"] != nil { settings.driverOpts = try d.stringMap(fields, "DriverOpts", path) }
        settings.macAddress = try d.string(fields, "MacAddress", path)
        if let ipam = fields["ipamconfig"] {
            let ipamPath = path + ".IPAMConfig"
            let ipamFields = try d.object(ipam, ipamPath)
            settings.ipv4Address = try d.string(ipamFields, "IPv4Address", ipamPath)
            settings.linkLocalIPs = try d.strings(ipamFields, "LinkLocalIPs", ipamPath)
            settings.ipv6Address = try d.string(ipamFields, "IPv6Address", ipamPath)
        }
        return settings
    }

    /// moby's checks of what Skiff adds to the address checks (`validateEndpointSettings`):
    /// link-local addresses (under `invalid endpoint settings:`, 400), the MAC address (400
    /// `invalid MAC address X`), and each link as moby's `ParseLink` reads it (moby finds a bad
    /// one only when the endpoint is made; Skiff refuses it at once, with its message).
    func validate() throws {
        let badLinkLocal = linkLocalIPs.filter { ip in
            guard let address = IPv4Subnet.parseAddress(ip) else { return !EndpointSettingsRequest.looksIPv6Address(ip) }
            return address == 0
        }
        if !badLinkLocal.isEmpty {
            throw EngineError(.invalidArgument, "invalid endpoint settings:\n"
                              + badLinkLocal.map { "invalid link-local IP address: \($0)" }.joined(separator: "\n"))
        }
        if !macAddress.isEmpty && EndpointSettingsRequest.normalizedMAC(macAddress) == nil {
            throw EngineError(.invalidArgument, "invalid MAC address \(macAddress)")
        }
        for link in links { _ = try EndpointSettingsRequest.parseLink(link) }
    }

    /// An IPv6 text address as Go's `net.ParseIP` would take it (hex groups and colons, one `::`
    /// at most, not `::` alone, which is unspecified); loose: enough to tell it from garbage.
    static func looksIPv6Address(_ text: String) -> Bool {
        let doubleColons = zip(text.unicodeScalars, text.unicodeScalars.dropFirst()).filter { $0 == ":" && $1 == ":" }.count
        guard text.contains(":"), text != "::", doubleColons <= 1 else { return false }
        return text.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." }
    }

    /// A MAC address Go's `net.ParseMAC` takes for Ethernet (six bytes, `:` or `-` between them),
    /// as `02:42:ac:11:00:02`; nil when it is not one.
    static func normalizedMAC(_ text: String) -> String? {
        let separator: Character = text.contains("-") ? "-" : ":"
        let parts = text.split(separator: separator, omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }) else { return nil }
        return parts.map { $0.lowercased() }.joined(separator: ":")
    }

    /// moby's `ParseLink`: `NAME:ALIAS`, or `NAME` (its own alias); `/NAME:/X/ALIAS` as moby
    /// stores legacy links.
    static func parseLink(_ link: String) throws -> (name: String, alias: String) {
        if link.isEmpty { throw EngineError(.invalidArgument, "empty string specified for links") }
        let parts = link.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2 { throw EngineError(.invalidArgument, "bad format for links: \(link)") }
        if parts.count == 1 { return (link, link) }
        if parts[0].hasPrefix("/") {
            return (String(parts[0].dropFirst()), String(parts[1].split(separator: "/", omittingEmptySubsequences: false).last ?? ""))
        }
        return (parts[0], parts[1])
    }

    /// What the Store keeps for inspect to echo (`NetworkEndpointRecord.settings`), only the
    /// fields given.
    var echo: JSON {
        var members: [JSON.Member] = []
        if !links.isEmpty { members.append(JSON.Member("Links", JSON(links))) }
        if let driverOpts {
            members.append(JSON.Member("DriverOpts", .object(driverOpts.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) })))
        }
        if !linkLocalIPs.isEmpty { members.append(JSON.Member("LinkLocalIPs", JSON(linkLocalIPs))) }
        if !macAddress.isEmpty { members.append(JSON.Member("MacAddress", .string(EndpointSettingsRequest.normalizedMAC(macAddress) ?? macAddress))) }
        return .object(members)
    }
}

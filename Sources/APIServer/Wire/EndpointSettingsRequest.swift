import Platform

/// moby's `network.EndpointSettings` as a client asks for a container's place on a network
/// (`NetworkingConfig.EndpointsConfig.NAME` at create, `EndpointConfig` of `/networks/{id}/connect`):
/// the fields Skiff acts on. Others (Links, DriverOpts, MacAddress) are accepted and ignored.
struct EndpointSettingsRequest: Sendable, Equatable {
    var aliases: [String] = []
    /// `IPAMConfig.IPv4Address`; "" for one picked from the network's range.
    var ipv4Address = ""
    /// `IPAMConfig.IPv6Address` (`--ip6`); "" for one picked on an IPv6 network.
    var ipv6Address = ""

    /// Decodes one `EndpointSettings` object at `path` (a wrong type is Go's 400).
    static func decode(_ json: JSON, _ d: GoDecoder, path: String) throws -> EndpointSettingsRequest {
        let fields = try d.object(json, path)
        var settings = EndpointSettingsRequest()
        settings.aliases = try d.strings(fields, "Aliases", path)
        if let ipam = fields["ipamconfig"] {
            let ipamPath = path + ".IPAMConfig"
            let config = try d.object(ipam, ipamPath)
            settings.ipv4Address = try d.string(config, "IPv4Address", ipamPath)
            settings.ipv6Address = try d.string(config, "IPv6Address", ipamPath)
        }
        return settings
    }
}

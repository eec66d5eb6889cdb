import Platform

/// moby's `network.EndpointSettings` as a client asks for a container's place on a network
/// (`NetworkingConfig.EndpointsConfig.NAME` at create, `EndpointConfig` of `/networks/{id}/connect`):
/// the fields Skiff acts on. Others (Links, DriverOpts, MacAddress, IPv6) are accepted and ignored.
struct EndpointSettingsRequest: Sendable, Equatable {
    var aliases: [String] = []
    /// `IPAMConfig.IPv4Address`; "" for one picked from the network's range.
    var ipv4Address = ""

    /// Decodes one `EndpointSettings` object at `path` (a wrong type is Go's 400).
    static func decode(_ json: JSON, _ d: GoDecoder, path: String) throws -> EndpointSettingsRequest {
        let fields = try d.object(json, path)
        var settings = EndpointSettingsRequest()
        settings.aliases = try d.strings(fields, "Aliases", path)
        if let ipam = fields["ipamconfig"] {
            let ipamPath = path + ".IPAMConfig"
            settings.ipv4Address = try d.string(try d.object(ipam, ipamPath), "IPv4Address", ipamPath)
        }
        return settings
    }
}

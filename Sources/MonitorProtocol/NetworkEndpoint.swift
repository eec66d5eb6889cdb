/// A container's interface on a user-defined network, as the service tells its monitor
/// (`skiff-monitor --endpoints`, docs/networking.md): the monitor asks the per-user network
/// namespace keeper (`skiff-relay --keep-netns`) to make it at each run's create.
///
/// On the command line the endpoints are one value, `;` between endpoints, each
/// `IFNAME,BRIDGE,ADDRESS/PREFIX,GATEWAY,MTU,ROUTE[,internal]` (ROUTE 1: the default route goes by
/// GATEWAY; `internal`: an Internal network, which the keeper's uplink does not serve).
public struct NetworkEndpoint: Sendable, Equatable {
    /// In the container: `eth0`, `eth1`, ...
    public var interface: String
    /// In the keeper's namespace: `br-` and the network id's first 12 digits.
    public var bridge: String
    public var address: String
    public var prefixLength: Int
    public var gateway: String
    public var mtu: Int
    public var defaultRoute: Bool
    /// An Internal network: no route out through the keeper's uplink.
    public var isInternal = false

    public init(interface: String, bridge: String, address: String, prefixLength: Int, gateway: String,
                mtu: Int = 1500, defaultRoute: Bool = false) {
        self.interface = interface
        self.bridge = bridge
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mtu = mtu
        self.defaultRoute = defaultRoute
    }

    /// The bridge of the network with this id.
    public static func bridgeName(networkID: String) -> String {
        "br-" + String(networkID.prefix(12))
    }

    /// The MAC address of an interface with this IPv4 address, as Docker made them: 02:42 and
    /// the address's four bytes.
    public static func macAddress(for address: String) -> String {
        let bytes = address.split(separator: ".").compactMap { UInt8($0) }
        guard bytes.count == 4 else { return "" }
        return (["02", "42"] + bytes.map { byte in
            let text = String(byte, radix: 16)
            return text.count == 1 ? "0" + text : text
        }).joined(separator: ":")
    }

    public var macAddress: String { NetworkEndpoint.macAddress(for: address) }

    /// The keeper's `attach` request (a last token `1`: an Internal network; without it, not).
    public var attachRequest: String {
        "attach \(bridge) \(gateway) \(prefixLength) \(mtu) \(interface) \(address) \(macAddress) \(defaultRoute ? 1 : 0)"
            + (isInternal ? " 1" : "")
    }

    public static func argument(_ endpoints: [NetworkEndpoint]) -> String {
        endpoints.map { e in
            "\(e.interface),\(e.bridge),\(e.address)/\(e.prefixLength),\(e.gateway),\(e.mtu),\(e.defaultRoute ? 1 : 0)"
                + (e.isInternal ? ",internal" : "")
        }.joined(separator: ";")
    }

    /// The endpoints of an `argument`; nil when it is not one.
    public static func parse(argument: String) -> [NetworkEndpoint]? {
        var list: [NetworkEndpoint] = []
        for entry in argument.split(separator: ";") {
            let fields = entry.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 6 || (fields.count == 7 && fields[6] == "internal") else { return nil }
            let cidr = fields[2].split(separator: "/")
            guard cidr.count == 2, let prefix = Int(cidr[1]), (0...32).contains(prefix), let mtu = Int(fields[4]),
                  !fields[0].isEmpty, fields[0].utf8.count < 16, !fields[1].isEmpty, fields[1].utf8.count < 16,
                  macAddress(for: String(cidr[0])) != "", macAddress(for: fields[3]) != "",
                  fields[5] == "0" || fields[5] == "1" else { return nil }
            var endpoint = NetworkEndpoint(interface: fields[0], bridge: fields[1], address: String(cidr[0]),
                                           prefixLength: prefix, gateway: fields[3], mtu: mtu, defaultRoute: fields[5] == "1")
            endpoint.isInternal = fields.count == 7
            list.append(endpoint)
        }
        return list
    }
}

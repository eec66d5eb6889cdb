/// A container's interface on a user-defined network, as the service tells its monitor
/// (`skiff-monitor --endpoints`, docs/networking.md): the monitor asks the per-user network
/// namespace keeper (`skiff-relay --keep-netns`) to make it at each run's create.
///
/// On the command line the endpoints are one value, `;` between endpoints, each
/// `IFNAME,BRIDGE,ADDRESS/PREFIX,GATEWAY,MTU,ROUTE[,NAMES,UPSTREAMS][,internal]` (ROUTE 1: the
/// default route goes by GATEWAY; NAMES and UPSTREAMS `|`-separated, possibly empty: the
/// container's names on the network and the DNS servers the keeper's responder forwards its other
/// names to, none: the host's; docs/networking.md, "Names between containers"; `internal`: an
/// Internal network, which the keeper's uplink does not serve), then optionally
/// `links=ALIAS=NAME|...`, `mac=XX:XX:XX:XX:XX:XX` and, on an IPv6 network,
/// `ip6=ADDRESS6/PREFIX6@GATEWAY6` (docs/networking.md, "IPv6").
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
    /// The names the network's DNS responder answers with this address (lowercase host names).
    public var names: [String]
    /// IPv4 servers for the container's other names; empty: the host's resolv.conf's.
    public var upstreams: [String]
    /// The container's links on this network, `ALIAS=NAME` (lowercase host names): the
    /// responder answers ALIAS with NAME's addresses to this container alone, as moby's.
    public var links: [String] = []
    /// The MAC address asked for (`EndpointSettings.MacAddress`); nil: Docker's 02:42 form.
    public var mac: String?

    /// The keeper's bound on links per endpoint (netns_dns.h, DNS_MAX_LINKS).
    public static let maxLinks = 8
    /// On an IPv6 network: the container's IPv6 address, its prefix length and the network's
    /// IPv6 gateway (the bridge's); "" otherwise.
    public var ipv6Address = ""
    public var ipv6PrefixLength = 0
    public var ipv6Gateway = ""

    public init(interface: String, bridge: String, address: String, prefixLength: Int, gateway: String,
                mtu: Int = 1500, defaultRoute: Bool = false, names: [String] = [], upstreams: [String] = []) {
        self.interface = interface
        self.bridge = bridge
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mtu = mtu
        self.defaultRoute = defaultRoute
        self.names = names
        self.upstreams = upstreams
    }

    /// The names of a container the responder can answer (docs/networking.md, "Names between
    /// containers"): host names of 1..253 characters (letters, digits, `-`, `_`, labels of 1..63,
    /// the first a letter or digit),
    /// lowercase, without repeats, at most 16 and 500 bytes in all (the keeper's bounds); others
    /// are not DNS names and are left out.
    public static func dnsNames(_ candidates: [String]) -> [String] {
        var names: [String] = []
        var bytes = 0
        for candidate in candidates {
            let name = candidate.lowercased()
            let labels = name.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...253).contains(name.utf8.count), let first = name.utf8.first,
                  (first >= 0x61 && first <= 0x7a) || (first >= 0x30 && first <= 0x39),
                  labels.allSatisfy({ (1...63).contains($0.utf8.count) }),
                  name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }),
                  !names.contains(name), names.count < 16, bytes + name.utf8.count + 1 <= 500 else { continue }
            names.append(name)
            bytes += name.utf8.count + 1
        }
        return names
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

    public var macAddress: String { mac ?? NetworkEndpoint.macAddress(for: address) }

    /// Whether the endpoint carries DNS names or servers (the older forms, without them, still hold).
    var hasDNS: Bool { !names.isEmpty || !upstreams.isEmpty }

    /// The keeper's `attach` request: after ROUTE, `INTERNAL` (1: an Internal network) when it is
    /// one or names follow, then with names, servers, links or IPv6 `NAMES UPSTREAMS`, each
    /// comma-separated or `-`, then, with links, `LINKS` (`ALIAS=NAME` comma-separated), then on an
    /// IPv6 network `ADDRESS6/PREFIX6 GATEWAY6` (the keeper tells LINKS from it by its colons).
    public var attachRequest: String {
        let ipv6 = !ipv6Address.isEmpty
        var request = "attach \(bridge) \(gateway) \(prefixLength) \(mtu) \(interface) \(address) \(macAddress) \(defaultRoute ? 1 : 0)"
        if isInternal || hasDNS || ipv6 { request += isInternal ? " 1" : " 0" }
        if hasDNS || ipv6 {
            request += " " + (names.isEmpty ? "-" : names.joined(separator: ","))
            request += " " + (upstreams.isEmpty ? "-" : upstreams.joined(separator: ","))
            if !links.isEmpty { request += " " + links.joined(separator: ",") }
        }
        if ipv6 { request += " \(ipv6Address)/\(ipv6PrefixLength) \(ipv6Gateway)" }
        return request
    }

    public static func argument(_ endpoints: [NetworkEndpoint]) -> String {
        endpoints.map { (e: NetworkEndpoint) -> String in
            var text = "\(e.interface),\(e.bridge),\(e.address)/\(e.prefixLength),\(e.gateway),\(e.mtu),\(e.defaultRoute ? 1 : 0)"
            if e.hasDNS { text += ",\(e.names.joined(separator: "|")),\(e.upstreams.joined(separator: "|"))" }
            if e.isInternal { text += ",internal" }
            if !e.links.isEmpty { text += ",links=" + e.links.joined(separator: "|") }
            if let mac = e.mac { text += ",mac=" + mac }
            if !e.ipv6Address.isEmpty { text += ",ip6=\(e.ipv6Address)/\(e.ipv6PrefixLength)@\(e.ipv6Gateway)" }
            return text
        }.joined(separator: ";")
    }

    /// The endpoints of an `argument`; nil when it is not one.
    public static func parse(argument: String) -> [NetworkEndpoint]? {
        var list: [NetworkEndpoint] = []
        for entry in argument.split(separator: ";") {
            var fields = entry.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            // Trailing `links=...`, `mac=...` and `ip6=...` (added after the positional fields; no
            // name, server or `internal` has `=`).
            var links: [String] = []
            var mac: String?
            var ipv6: (String, Int, String)?
            while let last = fields.last, last.hasPrefix("links=") || last.hasPrefix("mac=") || last.hasPrefix("ip6=") {
                fields.removeLast()
                if last.hasPrefix("ip6=") {
                    let value = last.dropFirst(4).split(separator: "@", omittingEmptySubsequences: false)
                    let cidr = value.first?.split(separator: "/") ?? []
                    guard value.count == 2, cidr.count == 2, let prefix = Int(cidr[1]), (1...128).contains(prefix),
                          cidr[0].contains(":"), value[1].contains(":"),
                          cidr[0].allSatisfy({ $0.isHexDigit || $0 == ":" }), value[1].allSatisfy({ $0.isHexDigit || $0 == ":" })
                    else { return nil }
                    ipv6 = (String(cidr[0]), prefix, String(value[1]))
                } else if last.hasPrefix("mac=") {
                    let value = String(last.dropFirst(4))
                    guard value.split(separator: ":").count == 6, value.split(separator: ":").allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }) else { return nil }
                    mac = value
                } else {
                    links = last.dropFirst(6).split(separator: "|").map(String.init)
                    guard links.count <= maxLinks, links.allSatisfy({ link in
                        let sides = link.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
                        return sides.count == 2 && sides.allSatisfy { dnsNames([$0]) == [$0] }
                    }) else { return nil }
                }
            }
            let isInternal = fields.count == 7 || fields.count == 9
            guard fields.count >= 6, fields.count <= 9, !isInternal || fields[fields.count - 1] == "internal" else { return nil }
            let names = fields.count >= 8 ? fields[6].split(separator: "|").map(String.init) : []
            let upstreams = fields.count >= 8 ? fields[7].split(separator: "|").map(String.init) : []
            guard dnsNames(names) == names, upstreams.count <= 3,
                  upstreams.allSatisfy({ macAddress(for: $0) != "" }) else { return nil }
            let cidr = fields[2].split(separator: "/")
            guard cidr.count == 2, let prefix = Int(cidr[1]), (0...32).contains(prefix), let mtu = Int(fields[4]),
                  !fields[0].isEmpty, fields[0].utf8.count < 16, !fields[1].isEmpty, fields[1].utf8.count < 16,
                  macAddress(for: String(cidr[0])) != "", macAddress(for: fields[3]) != "",
                  fields[5] == "0" || fields[5] == "1" else { return nil }
            var endpoint = NetworkEndpoint(interface: fields[0], bridge: fields[1], address: String(cidr[0]),
                                           prefixLength: prefix, gateway: fields[3], mtu: mtu, defaultRoute: fields[5] == "1",
                                           names: names, upstreams: upstreams)
            endpoint.isInternal = isInternal
            endpoint.links = links
            endpoint.mac = mac
            if let ipv6 { (endpoint.ipv6Address, endpoint.ipv6PrefixLength, endpoint.ipv6Gateway) = ipv6 }
            list.append(endpoint)
        }
        return list
    }
}

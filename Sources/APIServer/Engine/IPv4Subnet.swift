/// An IPv4 address with a prefix length (`172.18.0.0/16`), for user-defined networks' IPAM.
/// Parsed strictly: four decimal octets, a prefix 0...32.
struct IPv4Subnet: Equatable, CustomStringConvertible {
    /// The address as given (host bits may be set: `masked` clears them).
    var address: UInt32
    var prefixLength: Int

    init(address: UInt32, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `A.B.C.D/N`; nil when it is not IPv4 CIDR notation.
    init?(cidr: String) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Subnet.parseAddress(String(parts[0])),
              parts[1].allSatisfy(\.isASCII), let prefix = Int(parts[1]), (0...32).contains(prefix),
              !parts[1].isEmpty, parts[1].count <= 2 else { return nil }
        self.address = address
        self.prefixLength = prefix
    }

    var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }
    var network: UInt32 { address & mask }
    var broadcast: UInt32 { network | ~mask }
    var masked: IPv4Subnet { IPv4Subnet(address: network, prefixLength: prefixLength) }
    var isMasked: Bool { address == network }

    func contains(_ other: UInt32) -> Bool { other & mask == network }

    /// One holds the other (two CIDR blocks either nest or are apart).
    func overlaps(_ other: IPv4Subnet) -> Bool {
        let shorter = min(prefixLength, other.prefixLength)
        let m: UInt32 = shorter == 0 ? 0 : UInt32.max << UInt32(32 - shorter)
        return address & m == other.address & m
    }

    var description: String { IPv4Subnet.format(address) + "/\(prefixLength)" }

    /// Four decimal octets, none with a leading zero (Go's netip rules); nil otherwise.
    static func parseAddress(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy({ $0.isASCII && $0.isNumber }),
                  octet.count == 1 || octet.first != "0", let n = UInt32(octet), n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    static func format(_ address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 0xff).\(address >> 8 & 0xff).\(address & 0xff)"
    }

    /// Text that parses as an IPv6 address or prefix (for refusing it clearly).
    static func looksIPv6(_ text: String) -> Bool { text.contains(":") }
}

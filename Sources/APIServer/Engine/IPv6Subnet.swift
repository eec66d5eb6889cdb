#if canImport(Glibc)
import Glibc
#endif

/// An IPv6 address with a prefix length (`2001:db8::/64`), for user-defined networks' IPAM
/// (docs/networking.md, "IPv6"). The address is two 64-bit halves, high first.
struct IPv6Subnet: Equatable, CustomStringConvertible {
    /// An address as its two 64-bit halves, high first.
    struct Address: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
        init(_ high: UInt64, _ low: UInt64) {
            self.high = high
            self.low = low
        }
    }

    var high: UInt64
    var low: UInt64
    var prefixLength: Int

    init(high: UInt64, low: UInt64, prefixLength: Int) {
        self.high = high
        self.low = low
        self.prefixLength = prefixLength
    }

    /// `ADDRESS/N`, N 0...128; nil when it is not IPv6 CIDR notation.
    init?(cidr: String) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv6Subnet.parseAddress(String(parts[0])), !parts[1].isEmpty,
              parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let prefix = Int(parts[1]), (0...128).contains(prefix) else { return nil }
        (high, low) = (address.high, address.low)
        prefixLength = prefix
    }

    private static func masks(_ prefix: Int) -> (UInt64, UInt64) {
        let high: UInt64 = prefix == 0 ? 0 : prefix >= 64 ? UInt64.max : UInt64.max << UInt64(64 - prefix)
        let low: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? UInt64.max : UInt64.max << UInt64(128 - prefix)
        return (high, low)
    }

    var masked: IPv6Subnet {
        let (mh, ml) = IPv6Subnet.masks(prefixLength)
        return IPv6Subnet(high: high & mh, low: low & ml, prefixLength: prefixLength)
    }
    var isMasked: Bool { masked == self }

    var address: Address { Address(high, low) }

    func contains(_ address: Address) -> Bool {
        let (mh, ml) = IPv6Subnet.masks(prefixLength)
        return address.high & mh == high & mh && address.low & ml == low & ml
    }

    /// One holds the other.
    func overlaps(_ other: IPv6Subnet) -> Bool {
        let (mh, ml) = IPv6Subnet.masks(min(prefixLength, other.prefixLength))
        return high & mh == other.high & mh && low & ml == other.low & ml
    }

    /// The address `offset` past the subnet's first (network) address; nil past its end.
    func address(at offset: UInt64) -> Address? {
        let base = masked
        let (sum, overflow) = base.low.addingReportingOverflow(offset)
        let candidate = Address(overflow ? base.high &+ 1 : base.high, sum)
        guard contains(candidate) else { return nil }
        return candidate
    }

    var description: String { IPv6Subnet.format(address) + "/\(prefixLength)" }

    static func parseAddress(_ text: String) -> Address? {
        guard text.contains(":"), !text.contains("%") else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        let ok = bytes.withUnsafeMutableBytes { raw in inet_pton(AF_INET6, text, raw.baseAddress) == 1 }
        guard ok else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        return Address(high, low)
    }

    static func format(_ address: Address) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: address.high >> UInt64(56 - 8 * i)) }
        for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: address.low >> UInt64(56 - 8 * i)) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        return ok ? String(cString: buffer) : ""
    }
}

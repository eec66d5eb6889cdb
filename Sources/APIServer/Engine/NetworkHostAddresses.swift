#if canImport(Glibc)
import Glibc
#endif

/// The IPv4 subnets of the host's interfaces other than loopback: a subnet Skiff picks for a
/// network avoids them, so the network's uplink still reaches the host's own networks (moby
/// and Podman skip such pools as well).
enum NetworkHostAddresses {
    static func subnets() -> [IPv4Subnet] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [IPv4Subnet] = []
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            let flags = current.pointee.ifa_flags
            guard let address = current.pointee.ifa_addr, let mask = current.pointee.ifa_netmask,
                  address.pointee.sa_family == sa_family_t(AF_INET), flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
            let value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let bits = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            result.append(IPv4Subnet(address: value, prefixLength: bits.nonzeroBitCount))
        }
        return result
    }
}

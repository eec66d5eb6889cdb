import Platform

/// A running container's IPv6 on an interface, read from its network namespace as the kernel
/// shows it (`/proc/PID/net/if_inet6`, `/proc/PID/net/ipv6_route`): on the default network
/// slirp4netns's router advertisement gives tap0 an fd00::/64 address by SLAAC after the
/// container has started (nothing waits for it), so inspect reads what is there at the time.
struct ContainerIPv6: Equatable {
    var address: String
    var prefixLength: Int
    /// The next hop of the IPv6 default route through the interface; "" without one.
    var gateway: String

    /// The first global-scope address of `interface` in the namespace of process `pid` (a
    /// tentative one too: DAD is off in containers' namespaces), with the default route's
    /// gateway; nil when it has none (yet), or the files cannot be read.
    static func read(pid: Int32, interface: String) -> ContainerIPv6? {
        guard pid > 0, let addresses = try? FileSystem.readFile("/proc/\(pid)/net/if_inet6") else { return nil }
        let routes = (try? FileSystem.readFile("/proc/\(pid)/net/ipv6_route")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return parse(addresses: String(decoding: addresses, as: UTF8.self), routes: routes, interface: interface)
    }

    /// `if_inet6` lines: ADDRESS(32 hex) IFINDEX PREFIXLEN SCOPE FLAGS NAME (hex numbers);
    /// `ipv6_route` lines: DEST(32) DESTLEN SRC(32) SRCLEN NEXTHOP(32) METRIC REFCNT USE FLAGS NAME.
    static func parse(addresses: String, routes: String, interface: String) -> ContainerIPv6? {
        var found: (String, Int)?
        for line in addresses.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 6, f[5] == interface, f[3] == "00", let prefix = Int(f[2], radix: 16),
                  let text = text(hex: f[0]) else { continue }
            found = (text, prefix)
            break
        }
        guard let (address, prefix) = found else { return nil }
        var gateway = ""
        for line in routes.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 10, f[9] == interface, f[1] == "00",
                  f[0].allSatisfy({ $0 == "0" }), !f[4].allSatisfy({ $0 == "0" }) else { continue }
            gateway = text(hex: f[4]) ?? ""
            break
        }
        return ContainerIPv6(address: address, prefixLength: prefix, gateway: gateway)
    }

    /// 32 hex digits as an IPv6 address in its shortest text (`IPv6Subnet.format`).
    static func text(hex: Substring) -> String? {
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return nil }
        let middle = hex.index(hex.startIndex, offsetBy: 16)
        guard let high = UInt64(hex[..<middle], radix: 16), let low = UInt64(hex[middle...], radix: 16) else { return nil }
        return IPv6Subnet.format(IPv6Subnet.Address(high, low))
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Config
import MonitorProtocol
import Platform

/// The addresses a container on the default network has with pasta (docs/networking.md): pasta
/// copies the host's address, prefix and default gateway from the interface of the host's first
/// IPv4 default route (or the one `-i`/`--outbound-if4` names) unless `-a`, `-n`, `-g` say
/// otherwise, and names the container's interface like that host interface (or `-I`). Worked out
/// by the service from the host's routes for /etc/hosts (at create) and inspect, as Podman reads
/// them from the container after pasta configured it.
struct PastaAddressing: Equatable {
    var address: String
    var gateway: String
    var prefixLength: Int
    var interface: String
    /// What `host.containers.internal`, `host.docker.internal` and `host-gateway` name; nil:
    /// nothing (Podman then writes no entry): see `hostAddress(...)`.
    var hostAddress: String?
    /// pasta's `--dns-forward` address (the container's first name server), if given.
    var dnsForward: String?

    /// For `pasta` (its options) on this host, with containers.conf's `host_containers_internal_ip`.
    /// Nil when the host has no IPv4 default route (pasta then has nothing to copy).
    init?(_ pasta: PastaNetwork, hostContainersInternalIP: String,
          routes: [PastaAddressing.Route] = PastaAddressing.defaultRoutes(),
          interfaces: [PastaAddressing.InterfaceAddress] = PastaAddressing.interfaceAddresses()) {
        let chosen = pasta.templateInterface
        guard let route = routes.first(where: { chosen == nil || $0.interface == chosen }) else { return nil }
        let own = interfaces.first { $0.interface == route.interface }
        guard let address = pasta.address ?? own?.address else { return nil }
        self.address = address
        gateway = pasta.gateway ?? route.gateway
        prefixLength = pasta.netmask.flatMap(PastaAddressing.prefixLength) ?? own?.prefixLength ?? 24
        interface = pasta.interface ?? route.interface
        dnsForward = pasta.dnsForward
        if !hostContainersInternalIP.isEmpty {
            hostAddress = hostContainersInternalIP
        } else if pasta.mapGateway {
            hostAddress = gateway
        } else {
            // The host's addresses but the one the container has too (it would reach itself).
            hostAddress = interfaces.first { $0.address != address }?.address
        }
    }

    /// An IPv4 default route of the host: its interface and gateway.
    struct Route: Equatable {
        var interface: String
        var gateway: String
    }

    /// An IPv4 address of a host interface that is up and not loopback.
    struct InterfaceAddress: Equatable {
        var interface: String
        var address: String
        var prefixLength: Int
    }

    /// The host's IPv4 default routes, /proc/net/route's order (pasta takes the first).
    static func defaultRoutes(_ text: String? = nil) -> [Route] {
        let table = text ?? ((try? FileSystem.readFile("/proc/net/route")).map { String(decoding: $0, as: UTF8.self) } ?? "")
        var routes: [Route] = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                  let flags = Int(fields[3], radix: 16), flags & 0x1 != 0,
                  let raw = UInt32(fields[2], radix: 16) else { continue }
            // /proc/net/route prints the address in the host's (little-endian) byte order.
            let octets = (0..<4).map { String((raw >> (8 * UInt32($0))) & 0xff) }
            routes.append(Route(interface: String(fields[0]), gateway: octets.joined(separator: ".")))
        }
        return routes
    }

    /// The IPv4 addresses of the host's interfaces that are up, loopback excepted.
    static func interfaceAddresses() -> [InterfaceAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [InterfaceAddress] = []
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            let flags = current.pointee.ifa_flags
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & UInt32(IFF_UP) != 0, flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
            func text(_ pointer: UnsafeMutablePointer<sockaddr>?) -> (String, UInt32)? {
                guard let pointer else { return nil }
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> (String, UInt32)? in
                    var a = sin.pointee.sin_addr
                    var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    guard inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count)) != nil else { return nil }
                    return (String(cString: buffer), UInt32(bigEndian: a.s_addr))
                }
            }
            guard let (addressText, _) = text(address) else { continue }
            let mask = text(current.pointee.ifa_netmask)?.1 ?? 0xffff_ff00
            result.append(InterfaceAddress(interface: String(cString: current.pointee.ifa_name), address: addressText,
                                           prefixLength: mask.nonzeroBitCount))
        }
        return result
    }

    /// `24` or `255.255.255.0` as a prefix length; nil when it is neither.
    static func prefixLength(_ text: String) -> Int? {
        if let n = Int(text), (0...32).contains(n) { return n }
        guard UserModeNetwork.isIPv4(text) else { return nil }
        let value = text.split(separator: ".").reduce(UInt32(0)) { ($0 << 8) | UInt32($1)! }
        guard value.trailingZeroBitCount + value.nonzeroBitCount == 32 else { return nil }
        return value.nonzeroBitCount
    }
}

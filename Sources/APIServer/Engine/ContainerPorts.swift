#if canImport(Glibc)
import Glibc
#endif
import MonitorProtocol
import Platform

/// Published ports (`-p`, `-P`; docs/networking.md): checked at create as moby checks
/// `HostConfig.PortBindings`, resolved at each start (a random host port chosen, a range's first
/// free port, a port below `net.ipv4.ip_unprivileged_port_start` or in use refused with Docker's
/// message) into the `PublishedPort`s the monitor has slirp4netns forward.
enum ContainerPorts {
    /// One `PortBindings` entry: the container's port and protocol, the host's address and
    /// port range (0...0: a random port).
    struct Binding: Equatable {
        var proto: String
        var containerPort: Int
        var hostIP: String
        var hostPorts: ClosedRange<Int>
    }

    /// `80`, `80/tcp`: the port and the protocol (tcp when none), as moby's nat.SplitProtoPort.
    static func splitProtoPort(_ key: String) -> (port: String, proto: String) {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { return (parts[0], "tcp") }
        return (parts[0], parts[1].isEmpty ? "tcp" : parts[1].lowercased())
    }

    /// A port or `LOW-HIGH`; nil when it does not parse (moby's nat.ParsePortRange).
    static func portRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        guard let low = Int(parts[0]), (0...65535).contains(low) else { return nil }
        guard parts.count == 2 else { return low...low }
        guard let high = Int(parts[1]), (0...65535).contains(high), high >= low else { return nil }
        return low...high
    }

    /// `HostConfig.PortBindings` parsed; throws moby's `invalid port specification` (400), and
    /// for sctp or another protocol what Skiff cannot forward.
    static func bindings(_ json: JSON?) throws -> [Binding] {
        guard case .object(let members)? = json else { return [] }
        var result: [Binding] = []
        for member in members {
            let (portText, proto) = splitProtoPort(member.key)
            guard let range = portRange(portText), range.count == 1, range.lowerBound > 0 else {
                throw EngineError(.invalidArgument, "invalid port specification: \"\(portText)\"")
            }
            switch proto {
            case "tcp", "udp": break
            case "sctp": throw EngineError(.invalidArgument, "cannot publish \(member.key): the default network (slirp4netns) forwards tcp and udp only")
            default: throw EngineError(.invalidArgument, "invalid proto: \(proto)")
            }
            guard case .array(let entries) = member.value else { continue }
            for entry in entries {
                var hostIP = "", hostPort = ""
                if case .object(let fields) = entry {
                    for field in fields {
                        if field.key == "HostIp", case .string(let s) = field.value { hostIP = s }
                        if field.key == "HostPort", case .string(let s) = field.value { hostPort = s }
                    }
                }
                var hosts: ClosedRange<Int> = 0...0
                if !hostPort.isEmpty {
                    guard let range = portRange(hostPort) else {
                        throw EngineError(.invalidArgument, "invalid port specification: \"\(hostPort)\"")
                    }
                    hosts = range
                }
                if !hostIP.isEmpty && !UserModeNetwork.isIPv4(hostIP) {
                    throw EngineError(.invalidArgument, "invalid IP address: \(hostIP): the default network (slirp4netns) publishes on IPv4 addresses")
                }
                if hostIP == "0.0.0.0" { hostIP = "" }
                result.append(Binding(proto: proto, containerPort: range.lowerBound, hostIP: hostIP, hostPorts: hosts))
            }
        }
        return result
    }

    /// Create's check.
    static func validate(_ json: JSON?, network: String) throws {
        _ = try bindings(json)
    }

    /// The bindings a start publishes: `PortBindings`, then with `PublishAllPorts` every
    /// `ExposedPorts` entry not bound already, on a random port.
    static func requested(_ stored: StoredContainer) throws -> [Binding] {
        var list = try bindings(stored.hostConfig["PortBindings"])
        if case .bool(true)? = stored.hostConfig["PublishAllPorts"], case .object(let exposed)? = stored.config["ExposedPorts"] {
            for member in exposed {
                let (portText, proto) = splitProtoPort(member.key)
                guard let port = Int(portText), port > 0, port <= 65535, proto == "tcp" || proto == "udp" else { continue }
                if list.contains(where: { $0.containerPort == port && $0.proto == proto }) { continue }
                list.append(Binding(proto: proto, containerPort: port, hostIP: "", hostPorts: 0...0))
            }
        }
        return list
    }

    /// The bindings resolved to host ports, each checked the way Docker's proxy finds out:
    /// binding it. `isRoot`: privileged ports are allowed. Throws moby's answer (500).
    static func resolve(_ bindings: [Binding], id: String, name: String, isRoot: Bool) throws -> [PublishedPort] {
        let unprivilegedStart = isRoot ? 0 : unprivilegedPortStart()
        var result: [PublishedPort] = []
        for binding in bindings {
            let address = binding.hostIP.isEmpty ? "0.0.0.0" : binding.hostIP
            func refuse(_ text: String) -> EngineError {
                EngineError(.internal, "driver failed programming external connectivity on endpoint \(name) (\(id)): Error starting userland proxy: \(text)")
            }
            if binding.hostPorts == 0...0 {
                let port = try bindProbe(binding.proto, address, 0, refuse: refuse)
                result.append(PublishedPort(proto: binding.proto, hostIP: binding.hostIP, hostPort: port,
                                            containerPort: binding.containerPort))
                continue
            }
            var chosen: Int?
            var lastError: EngineError?
            for port in binding.hostPorts {
                if port < unprivilegedStart {
                    lastError = refuse("error while calling PortManager.AddPort(): cannot expose privileged port \(port), you can add 'net.ipv4.ip_unprivileged_port_start=\(port)' to /etc/sysctl.conf (currently \(unprivilegedStart)), or choose a larger port number (>= \(unprivilegedStart)): listen \(binding.proto)4 \(address):\(port): bind: permission denied")
                    continue
                }
                if result.contains(where: { $0.hostPort == port && $0.proto == binding.proto }) {
                    lastError = EngineError(.internal, "driver failed programming external connectivity on endpoint \(name) (\(id)): Bind for \(address):\(port) failed: port is already allocated")
                    continue
                }
                do {
                    _ = try bindProbe(binding.proto, address, port, refuse: refuse)
                    chosen = port
                    break
                } catch let error as EngineError {
                    lastError = error
                }
            }
            guard let chosen else { throw lastError ?? refuse("no free port in \(binding.hostPorts)") }
            result.append(PublishedPort(proto: binding.proto, hostIP: binding.hostIP, hostPort: chosen,
                                        containerPort: binding.containerPort))
        }
        return result
    }

    /// `net.ipv4.ip_unprivileged_port_start` (1024 when unreadable).
    static func unprivilegedPortStart() -> Int {
        guard let bytes = try? FileSystem.readFile("/proc/sys/net/ipv4/ip_unprivileged_port_start") else { return 1024 }
        return Int(String(decoding: bytes, as: UTF8.self).filter(\.isNumber)) ?? 1024
    }

    /// Binds `address:port` (0: any free port) as slirp4netns will (SO_REUSEADDR for tcp, so a
    /// port in TIME_WAIT is free), closes it, and returns the port.
    static func bindProbe(_ proto: String, _ address: String, _ port: Int,
                          refuse: (String) -> EngineError) throws -> Int {
        let type = proto == "udp" ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw refuse("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var one: Int32 = 1
        if proto == "tcp" { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else { throw refuse("invalid address \(address)") }
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let text = errno == EADDRINUSE ? "address already in use" : String(cString: strerror(errno)).lowercased()
            throw refuse("listen \(proto)4 \(address):\(port): bind: \(text)")
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: bound.sin_port))
    }

    /// The ports the running container publishes: `<run>/ports` (empty when not running).
    static func published(runDirectory: String) -> [PublishedPort] {
        guard !runDirectory.isEmpty,
              let bytes = try? FileSystem.readFile(runDirectory + "/" + PublishedPort.fileName) else { return [] }
        return PublishedPort.parse(file: String(decoding: bytes, as: UTF8.self)) ?? []
    }
}

/// A container's default network (`bridge`) as its monitor makes it (docs/networking.md): user-mode
/// networking by slirp4netns, one helper per container run, started by the monitor right after
/// the container's namespaces exist and ended with the run. The service resolves containers.conf
/// (`[network] default_rootless_network_cmd`, `[engine] network_cmd_path`, `network_cmd_options`)
/// into this and passes it as the monitor's `--network PROGRAM,KEY=VALUE,...`.
public struct UserModeNetwork: Sendable, Equatable {
    /// slirp4netns's path.
    public var program: String
    public var mtu = 65520
    /// The network's IPv4 /24 (slirp4netns `--cidr`): the container is .100, the gateway (the
    /// host) .2, the DNS forwarder .3.
    public var cidr = "10.0.2.0/24"
    /// Whether the gateway address reaches the host's loopback (Podman's `allow_host_loopback`;
    /// off: slirp4netns `--disable-host-loopback`).
    public var allowHostLoopback = false
    /// IPv6 (slirp4netns `--enable-ipv6`: SLAAC in fd00::/64, gateway fe80::2, fd00::2 the host):
    /// on by default, as Podman 4 has it (`enable_ipv6=true` unless containers.conf says false).
    public var enableIPv6 = true
    /// The host address outbound connections leave from (`outbound_addr`); empty: the kernel's choice.
    public var outboundAddress = ""
    /// Who forwards published TCP ports (`port_handler`, Podman's names): `rootlessport` (the
    /// default, as Podman's) is Skiff's forwarder, `skiff-relay --forward-ports` (kernel sockets
    /// on both sides, splice(2) between them); `slirp4netns` is slirp4netns's own `add_hostfwd`
    /// (user-mode TCP, slower, but the container sees the client's address). UDP ports are always
    /// slirp4netns's.
    public var portHandler = PortHandler.rootlessport

    public enum PortHandler: String, Sendable, Equatable {
        case rootlessport, slirp4netns
    }

    /// The name of the interface in the container.
    public static let interface = "tap0"

    public init(program: String) {
        self.program = program
    }

    /// The options Podman accepts in `network_cmd_options` for slirp4netns, applied to this;
    /// the error is Podman's sentence.
    public mutating func apply(options: [String]) throws(NetworkOptionError) {
        for option in options {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw NetworkOptionError("unknown option for slirp4netns: \(option)") }
            let (key, value) = (parts[0], parts[1])
            func flag() throws(NetworkOptionError) -> Bool {
                switch value {
                case "true": return true
                case "false": return false
                default: throw NetworkOptionError("cannot parse \(key) value \(value)")
                }
            }
            switch key {
            case "allow_host_loopback": allowHostLoopback = try flag()
            case "enable_ipv6": enableIPv6 = try flag()
            case "mtu":
                guard let n = Int(value), n >= 68, n <= 65521 else { throw NetworkOptionError("cannot parse mtu value \(value)") }
                mtu = n
            case "cidr":
                guard let prefix = UserModeNetwork.prefix24(value) else {
                    throw NetworkOptionError("invalid cidr \(value): Skiff takes an IPv4 /24 network")
                }
                cidr = prefix + ".0/24"
            case "outbound_addr":
                guard UserModeNetwork.isIPv4(value) else { throw NetworkOptionError("outbound_addr \(value) is not an IPv4 address") }
                outboundAddress = value
            case "port_handler":
                guard let handler = PortHandler(rawValue: value) else {
                    throw NetworkOptionError("unknown port_handler for slirp4netns: \(value)")
                }
                portHandler = handler
            default:
                throw NetworkOptionError("unknown option for slirp4netns: \(option)")
            }
        }
    }

    /// The first three octets of `cidr` when it is a valid `a.b.c.0/24`.
    static func prefix24(_ cidr: String) -> String? {
        let parts = cidr.split(separator: "/")
        guard parts.count == 2, parts[1] == "24", isIPv4(String(parts[0])) else { return nil }
        let octets = parts[0].split(separator: ".")
        guard octets[3] == "0" else { return nil }
        return octets[0..<3].joined(separator: ".")
    }

    public static func isIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { o in
            !o.isEmpty && o.count <= 3 && o.allSatisfy(\.isNumber) && (Int(o) ?? 256) <= 255
        }
    }

    private var prefix: String { UserModeNetwork.prefix24(cidr) ?? "10.0.2" }
    /// The container's address (slirp4netns `--configure`).
    public var containerAddress: String { prefix + ".100" }
    /// The host as the container sees it.
    public var gateway: String { prefix + ".2" }
    /// slirp4netns's DNS forwarder.
    public var dnsServer: String { prefix + ".3" }
    public var prefixLength: Int { 24 }

    // MARK: - The monitor's argument

    /// `--network`'s value.
    public var argument: String {
        var parts = [program, "mtu=\(mtu)", "cidr=\(cidr)", "allow_host_loopback=\(allowHostLoopback)",
                     "enable_ipv6=\(enableIPv6)", "port_handler=\(portHandler.rawValue)"]
        if !outboundAddress.isEmpty { parts.append("outbound_addr=\(outboundAddress)") }
        return parts.joined(separator: ",")
    }

    /// Parses `--network`'s value; nil when it is not a path and valid options.
    public init?(argument: String) {
        let parts = argument.split(separator: ",").map(String.init)
        guard let program = parts.first, program.hasPrefix("/") else { return nil }
        self.init(program: program)
        do {
            try apply(options: Array(parts.dropFirst()))
        } catch {
            return nil
        }
    }

    /// slirp4netns's command line for the container whose network namespace is at
    /// `networkNamespace` (and, rootless, user namespace at `userNamespace`): configure the
    /// interface, tell `readyFD` when it is up, end when `exitFD` closes, take port forwards on
    /// `apiSocket`.
    public func commandLine(networkNamespace: String, userNamespace: String?, readyFD: Int32, exitFD: Int32,
                            apiSocket: String?) -> [String] {
        var argv = [program, "--configure", "--mtu=\(mtu)", "--cidr=\(cidr)", "--ready-fd=\(readyFD)",
                    "--exit-fd=\(exitFD)", "--netns-type=path"]
        if let userNamespace { argv.append("--userns-path=\(userNamespace)") }
        if !allowHostLoopback { argv.append("--disable-host-loopback") }
        if enableIPv6 { argv.append("--enable-ipv6") }
        if !outboundAddress.isEmpty { argv.append("--outbound-addr=\(outboundAddress)") }
        if let apiSocket { argv.append("--api-socket=\(apiSocket)") }
        argv += [networkNamespace, UserModeNetwork.interface]
        return argv
    }
}

/// An option in `network_cmd_options` Skiff cannot take, in Podman's words.
public struct NetworkOptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

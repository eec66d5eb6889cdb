/// The default network (`bridge`) by pasta (Debian's `passt`), rootless, when containers.conf says
/// `[network] default_rootless_network_cmd = "pasta"` (docs/networking.md). Like slirp4netns, one
/// pasta per container run, a child of the container's monitor; unlike it, pasta copies the host's
/// address and routes into the container, takes its port forwards on its command line (so a
/// container that publishes ports gets its pasta at `start`, once the ports are resolved), has no
/// exit pipe (the monitor signals it, and the kernel does when the monitor dies: parent-death
/// signal) and tells it is ready by writing its pid file (`-P`).
///
/// The service turns containers.conf's `[network] pasta_options` into this (`apply(options:)`,
/// Podman's options with `--map-gw`, refusing those Skiff sets itself) and passes it as the
/// monitor's `--pasta PROGRAM,publishes=BOOL,OPTION,...` (items percent-escaped).
public struct PastaNetwork: Sendable, Equatable {
    /// pasta's path.
    public var program: String
    /// containers.conf's options that go to pasta as they are (without `--map-gw`).
    public var options: [String] = []
    /// Podman's `--map-gw` (not a pasta option): the gateway address reaches the host's loopback.
    /// Without it pasta gets `--no-map-gw`, as Podman runs it.
    public var mapGateway = false
    /// Whether the container publishes ports: then pasta starts at `start` with its `-t`/`-u`
    /// specs, else right after the container's namespaces exist.
    public var publishes = false

    /// From `options`: `-a`, `-g`, `-n` (IPv4), `-I`, `--dns-forward` (IPv4); nil: pasta's
    /// defaults (the host's address, gateway and interface name).
    public var address: String?
    public var gateway: String?
    public var netmask: String?
    public var interface: String?
    public var dnsForward: String?
    /// The host interface pasta copies from (`-i`, `--outbound-if4`); nil: the first default route's.
    public var templateInterface: String?

    public init(program: String) {
        self.program = program
    }

    /// Options Skiff gives pasta itself: refused in `pasta_options`.
    static let managed: Set<String> = ["--netns", "--userns", "--netns-only", "--no-netns-quit", "-f", "--foreground",
                                       "-P", "--pid", "--config-net", "--runas", "-h", "--help", "--version",
                                       "-s", "--socket", "-F", "--fd", "-1", "--one-off"]
    /// Published ports come from `-p`/`-P` (resolved and checked before start): refused here.
    static let ports: Set<String> = ["-t", "--tcp-ports", "-u", "--udp-ports"]
    /// pasta's options that take a value.
    static let valued: Set<String> = ["-a", "--address", "-n", "--netmask", "-M", "--mac-addr", "-g", "--gateway",
                                      "-i", "--interface", "-o", "--outbound", "--outbound-if4", "--outbound-if6",
                                      "-D", "--dns", "--dns-forward", "-S", "--search", "-m", "--mtu", "-I",
                                      "--ns-ifname", "-T", "--tcp-ns", "-U", "--udp-ns", "--ns-mac-addr", "-l",
                                      "--log-file", "--log-size", "-p", "--pcap", "--no-dhcp-dns", "--dhcp-dns",
                                      "--no-dhcp-search", "--dhcp-search"]
    /// pasta's options without a value.
    static let flags: Set<String> = ["-d", "--debug", "--trace", "-q", "--quiet", "-e", "--stderr", "--no-tcp",
                                     "--no-udp", "--no-icmp", "--no-dhcp", "--no-ndp", "--no-dhcpv6", "--no-ra",
                                     "--no-map-gw", "-4", "--ipv4-only", "-6", "--ipv6-only"]

    /// containers.conf's `pasta_options` (Podman's: each item one argument, `--opt=value` or
    /// `--opt`, `value`), checked and applied; the error says which item and why.
    public mutating func apply(options given: [String]) throws(NetworkOptionError) {
        var index = 0
        while index < given.count {
            let item = given[index]
            index += 1
            if item == "--map-gw" {
                mapGateway = true
                continue
            }
            guard item.hasPrefix("-"), item.count > 1 else {
                throw NetworkOptionError("pasta_options: \(item): not an option (pasta runs no command and takes no PID here)")
            }
            var name = item
            var value: String?
            if item.hasPrefix("--"), let equals = item.firstIndex(of: "=") {
                name = String(item[..<equals])
                value = String(item[item.index(after: equals)...])
            } else if !item.hasPrefix("--"), item.count > 2 {
                name = String(item.prefix(2))
                value = String(item.dropFirst(2))
            }
            if PastaNetwork.managed.contains(name) {
                throw NetworkOptionError("pasta_options: \(name) is set by Skiff (docs/networking.md)")
            }
            if PastaNetwork.ports.contains(name) {
                throw NetworkOptionError("pasta_options: \(name): published ports come from -p/--publish (docs/networking.md)")
            }
            if PastaNetwork.flags.contains(name) {
                guard value == nil else { throw NetworkOptionError("pasta_options: \(name) takes no value: \(item)") }
                if name == "--no-map-gw" { mapGateway = false }
                options.append(item)
                continue
            }
            guard PastaNetwork.valued.contains(name) else {
                throw NetworkOptionError("unknown option for pasta: \(item)")
            }
            if value == nil {
                guard index < given.count else { throw NetworkOptionError("pasta_options: \(name) needs a value") }
                value = given[index]
                options += [item, given[index]]
                index += 1
            } else {
                options.append(item)
            }
            guard let value, !value.isEmpty else { throw NetworkOptionError("pasta_options: \(name) needs a value") }
            switch name {
            case "-a", "--address": if UserModeNetwork.isIPv4(value) { address = value }
            case "-g", "--gateway": if UserModeNetwork.isIPv4(value) { gateway = value }
            case "-n", "--netmask": netmask = value
            case "-I", "--ns-ifname": interface = value
            case "-i", "--interface", "--outbound-if4": templateInterface = value
            case "--dns-forward": if UserModeNetwork.isIPv4(value) { dnsForward = value }
            case "-m", "--mtu":
                guard let mtu = Int(value), mtu >= 68, mtu <= 65520 else {
                    throw NetworkOptionError("pasta_options: \(name): cannot parse mtu value \(value)")
                }
            default: break
            }
        }
    }

    // MARK: - The monitor's argument

    /// `--pasta`'s value: `PROGRAM,map_gw=BOOL,publishes=BOOL,OPTION,...`, each item with `%` and
    /// `,` percent-escaped.
    public var argument: String {
        ([program, "map_gw=\(mapGateway)", "publishes=\(publishes)"] + options).map(PastaNetwork.escape).joined(separator: ",")
    }

    /// Parses `--pasta`'s value; nil when it is not a path, the two settings and valid options.
    public init?(argument: String) {
        let items = argument.split(separator: ",", omittingEmptySubsequences: false).map { PastaNetwork.unescape(String($0)) }
        guard items.count >= 3, let program = items[0], program.hasPrefix("/"),
              let map = items[1], map == "map_gw=true" || map == "map_gw=false",
              let publishes = items[2], publishes == "publishes=true" || publishes == "publishes=false" else { return nil }
        var options: [String] = []
        for item in items.dropFirst(3) {
            guard let item else { return nil }
            options.append(item)
        }
        self.init(program: program)
        do {
            try apply(options: options)
        } catch {
            return nil
        }
        mapGateway = map == "map_gw=true"
        self.publishes = publishes == "publishes=true"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "%": out += "%25"
            case ",": out += "%2C"
            default: out.append(c)
            }
        }
        return out
    }

    static func unescape(_ text: String) -> String? {
        var out = ""
        var rest = Substring(text)
        while let percent = rest.firstIndex(of: "%") {
            out += rest[..<percent]
            let code = rest[rest.index(after: percent)...].prefix(2)
            switch code {
            case "25": out += "%"
            case "2C": out += ","
            default: return nil
            }
            rest = rest[rest.index(percent, offsetBy: 3)...]
        }
        return out + rest
    }

    // MARK: - pasta's command line

    /// pasta's `-t`/`-u` specs for the published ports (`[ADDRESS/]HOST:CONTAINER`; all
    /// addresses when none is given), then `none` for a protocol without any, and for the
    /// namespace-to-host direction (`-T none -U none`) unless the options forward it.
    public static func portArguments(_ ports: [PublishedPort], options: [String]) -> [String] {
        var argv: [String] = []
        for port in ports {
            argv += [port.proto == "udp" ? "-u" : "-t",
                     (port.hostIP.isEmpty ? "" : port.hostIP + "/") + "\(port.hostPort):\(port.containerPort)"]
        }
        if !ports.contains(where: { $0.proto == "tcp" }) { argv += ["-t", "none"] }
        if !ports.contains(where: { $0.proto != "tcp" }) { argv += ["-u", "none"] }
        func given(_ names: Set<String>) -> Bool {
            options.contains { option in names.contains { option == $0 || option.hasPrefix($0 + "=") || ($0.count == 2 && option.hasPrefix($0)) } }
        }
        if !given(["-T", "--tcp-ns"]) { argv += ["-T", "none"] }
        if !given(["-U", "--udp-ns"]) { argv += ["-U", "none"] }
        return argv
    }

    /// pasta's command line for the container whose network namespace is at `networkNamespace`
    /// (and, rootless, user namespace at `userNamespace`): configure the interface, stay in the
    /// foreground (a child of the monitor), write its pid to `readyPath` once the interface is
    /// up, forward `ports`.
    public func commandLine(networkNamespace: String, userNamespace: String?, readyPath: String,
                            ports: [PublishedPort]) -> [String] {
        var argv = [program, "--config-net", "--foreground", "--quiet", "--pid", readyPath]
        argv += PastaNetwork.portArguments(ports, options: options)
        if !mapGateway && !options.contains("--no-map-gw") { argv.append("--no-map-gw") }
        argv += options
        if let userNamespace { argv += ["--userns", userNamespace] }
        argv += ["--netns", networkNamespace]
        return argv
    }
}

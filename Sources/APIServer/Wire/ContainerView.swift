#if canImport(Glibc)
import Glibc
#endif
import MonitorProtocol
import Platform
import Store

/// Docker's views of a container (ContainerInspect, ContainerSummary, the status text) as pure
/// functions of the Store row and the time: call them after the row has been reconciled with
/// its monitor.
public enum ContainerView {
    /// An argument as `docker ps` shows it (moby quotes the command for the list): left as it is
    /// when only plain characters, else in single quotes.
    static func shellQuoted(_ argument: String) -> String {
        let plain = !argument.isEmpty && argument.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || "@%+=:,./-_".utf8.contains(c)
        }
        if plain { return argument }
        return "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\"'\"'") + "'"
    }

    /// Docker's zero time, shown for a StartedAt/FinishedAt that never happened.
    public static let zeroTime = "0001-01-01T00:00:00Z"

    /// `GET /containers/{id}/json`. `size`: SizeRw and SizeRootFs when asked for (`?size=1`).
    /// `health`: the container's State.Health (nil: none recorded).
    public static func inspect(_ record: ContainerRecord, size: (rw: Int64, rootFs: Int64)? = nil,
                               health: HealthRecord? = nil, network: NetworkState = NetworkState()) throws -> JSON {
        let stored = try StoredContainer(record)
        let s = stored.json
        var members: [JSON.Member] = [
            JSON.Member("Id", .string(record.id)),
            JSON.Member("Created", .string(createdText(record))),
            JSON.Member("Path", .string(stored.path)),
            JSON.Member("Args", JSON(stored.args)),
            JSON.Member("State", state(record, health: health)),
            JSON.Member("Image", .string(record.imageID)),
            JSON.Member("ResolvConfPath", .string(stored.resolvConfPath)),
            JSON.Member("HostnamePath", .string(stored.hostnamePath)),
            JSON.Member("HostsPath", .string(stored.hostsPath)),
            JSON.Member("LogPath", .string(stored.logPath)),
            JSON.Member("Name", .string("/" + record.name)),
            JSON.Member("RestartCount", .int(Int64(record.restartCount))),
            JSON.Member("Driver", "overlay"),
            JSON.Member("Platform", s["Platform"] ?? "linux"),
            JSON.Member("MountLabel", s["MountLabel"] ?? ""),
            JSON.Member("ProcessLabel", s["ProcessLabel"] ?? ""),
            JSON.Member("AppArmorProfile", s["AppArmorProfile"] ?? ""),
            JSON.Member("ExecIDs", .null),
            JSON.Member("HostConfig", stored.hostConfig),
            JSON.Member("GraphDriver", s["GraphDriver"] ?? .object([JSON.Member("Data", .null), JSON.Member("Name", "overlay")])),
        ]
        if let size {
            members.append(JSON.Member("SizeRw", .int(size.rw)))
            members.append(JSON.Member("SizeRootFs", .int(size.rootFs)))
        }
        members += [
            JSON.Member("Mounts", .array(stored.mounts)),
            JSON.Member("Config", stored.config),
            JSON.Member("NetworkSettings", networkSettings(stored.networkMode, network: network,
                                                           exposed: stored.config["ExposedPorts"])),
        ]
        return .object(members)
    }

    /// Docker's `State` object.
    public static func state(_ record: ContainerRecord, health: HealthRecord? = nil) -> JSON {
        let running = record.state == .running || record.state == .paused || record.state == .restarting
        var members: [JSON.Member] = [
            JSON.Member("Status", .string(record.state.rawValue)),
            JSON.Member("Running", .bool(running)),
            JSON.Member("Paused", .bool(record.state == .paused)),
            JSON.Member("Restarting", .bool(record.state == .restarting)),
            JSON.Member("OOMKilled", .bool(record.oomKilled)),
            JSON.Member("Dead", .bool(record.state == .dead)),
            JSON.Member("Pid", .int(running ? Int64(record.pid) : 0)),
            JSON.Member("ExitCode", .int(Int64(record.exitCode))),
            JSON.Member("Error", .string(record.error)),
            JSON.Member("StartedAt", .string(record.startedAt.isEmpty ? zeroTime : record.startedAt)),
            JSON.Member("FinishedAt", .string(record.finishedAt.isEmpty ? zeroTime : record.finishedAt)),
        ]
        if let health { members.append(JSON.Member("Health", health.json)) }
        return .object(members)
    }

    /// `Created` as RFC 3339 with nanoseconds, UTC.
    public static func createdText(_ record: ContainerRecord) -> String {
        var ts = timespec()
        ts.tv_sec = Int(record.created / 1_000_000_000)
        ts.tv_nsec = Int(record.created % 1_000_000_000)
        return Timestamp.rfc3339Nano(ts, utc: true)
    }

    /// What a running container's network shows (docs/networking.md): its address on the default
    /// network, the gateway, the ports it publishes. Empty when it does not run or has none.
    public struct NetworkState: Sendable {
        public var address = ""
        public var gateway = ""
        public var prefixLength = 0
        /// IPv6 on the default network (slirp4netns's SLAAC address, its default route's next
        /// hop), as the container's namespace has it; "" / 0 without.
        public var ipv6Address = ""
        public var ipv6PrefixLength = 0
        public var ipv6Gateway = ""
        public var ports: [PublishedPort] = []
        /// Whether it runs (Ports lists exposed ports then, published or not).
        public var running = false
        /// Its user-defined networks, in the order of its interfaces (`Engine+NetworkJoin`).
        public var joined: [JoinedNetwork] = []
        /// The settings the client gave for the predefined network of its mode, echoed
        /// (`EndpointSettingsRequest.echo`, kept in the stored container as `EndpointSettings`).
        public var predefinedSettings: JSON = .object([])
        public init() {}
    }

    /// A container's place on a user-defined network as inspect shows it.
    public struct JoinedNetwork: Sendable {
        public var name: String
        public var networkID: String
        public var endpointID: String
        /// Address, prefix length, gateway and MAC: "" / 0 while it does not run, as moby.
        public var address: String
        public var prefixLength: Int
        public var gateway: String
        public var macAddress: String
        public var aliases: [String]
        public var ipamAddress: String
        /// On an IPv6 network ("" / 0 while it does not run), and the static one asked for.
        public var ipv6Address = ""
        public var ipv6PrefixLength = 0
        public var ipv6Gateway = ""
        public var ipamIPv6Address = ""
        /// What the client gave that inspect echoes (`NetworkEndpointRecord.settings`).
        public var settings: JSON = .object([])
    }

    /// The members of an endpoint entry that echo the client's settings, as moby keeps its
    /// `EndpointSettings` (given fields shown, the others null): `IPAMConfig` (with
    /// `IPv4Address` and `IPv6Address` when static, `LinkLocalIPs` when given), `Links`, `DriverOpts`.
    static func echoedSettings(_ settings: JSON, ipv4Address: String, ipv6Address: String = "") -> (ipam: JSON, links: JSON, driverOpts: JSON) {
        var ipam: [JSON.Member] = []
        if !ipv4Address.isEmpty { ipam.append(JSON.Member("IPv4Address", .string(ipv4Address))) }
        if !ipv6Address.isEmpty { ipam.append(JSON.Member("IPv6Address", .string(ipv6Address))) }
        if let linkLocal = settings["LinkLocalIPs"] { ipam.append(JSON.Member("LinkLocalIPs", linkLocal)) }
        return (ipam.isEmpty ? .null : .object(ipam), settings["Links"] ?? .null, settings["DriverOpts"] ?? .null)
    }

    /// `NetworkSettings` for inspect: one network named after the mode, with the address and
    /// gateway of a running container on the default network; `Ports` while it runs, as moby
    /// shows them (an exposed port not published: null).
    public static func networkSettings(_ mode: String, network: NetworkState = NetworkState(), exposed: JSON? = nil) -> JSON {
        var ports: [JSON.Member] = []
        if network.running {
            var keys: [String] = []
            if case .object(let members)? = exposed { keys = members.map(\.key) }
            for port in network.ports where !keys.contains("\(port.containerPort)/\(port.proto)") {
                keys.append("\(port.containerPort)/\(port.proto)")
            }
            for key in keys {
                let bound = network.ports.filter { "\($0.containerPort)/\($0.proto)" == key }
                ports.append(JSON.Member(key, bound.isEmpty ? .null : .array(bound.map { p in
                    .object([JSON.Member("HostIp", .string(p.hostIP.isEmpty ? "0.0.0.0" : p.hostIP)),
                             JSON.Member("HostPort", .string(String(p.hostPort)))])
                })))
            }
        }
        return .object([
            JSON.Member("Bridge", ""), JSON.Member("SandboxID", ""), JSON.Member("SandboxKey", ""),
            JSON.Member("Ports", .object(ports)), JSON.Member("HairpinMode", false),
            JSON.Member("LinkLocalIPv6Address", ""), JSON.Member("LinkLocalIPv6PrefixLen", 0),
            JSON.Member("SecondaryIPAddresses", .null), JSON.Member("SecondaryIPv6Addresses", .null),
            JSON.Member("EndpointID", ""), JSON.Member("Gateway", .string(network.gateway)),
            JSON.Member("GlobalIPv6Address", .string(network.ipv6Address)),
            JSON.Member("GlobalIPv6PrefixLen", .int(Int64(network.ipv6PrefixLength))), JSON.Member("IPAddress", .string(network.address)),
            JSON.Member("IPPrefixLen", .int(Int64(network.prefixLength))),
            JSON.Member("IPv6Gateway", .string(network.ipv6Gateway)), JSON.Member("MacAddress", ""),
            JSON.Member("Networks", networks(mode, network: network)),
        ])
    }

    static func networks(_ mode: String, network: NetworkState = NetworkState()) -> JSON {
        // `container:X`: no endpoint of its own (moby's updateContainerNetworkSettings).
        if mode.hasPrefix("container:") { return .object([]) }
        if !network.joined.isEmpty {
            // A container on the default network connected to user-defined ones shows both.
            let predefined: [JSON.Member] = ["", "bridge", "default"].contains(mode) ? [defaultEntry(mode, network: network)] : []
            return .object(predefined + network.joined.map { n in
                let echoed = echoedSettings(n.settings, ipv4Address: n.ipamAddress, ipv6Address: n.ipamIPv6Address)
                return JSON.Member(n.name, .object([
                    JSON.Member("IPAMConfig", echoed.ipam),
                    JSON.Member("Links", echoed.links), JSON.Member("Aliases", n.aliases.isEmpty ? .null : JSON(n.aliases)),
                    JSON.Member("MacAddress", .string(n.macAddress)), JSON.Member("DriverOpts", echoed.driverOpts),
                    JSON.Member("NetworkID", .string(n.networkID)), JSON.Member("EndpointID", .string(n.endpointID)),
                    JSON.Member("Gateway", .string(n.gateway)), JSON.Member("IPAddress", .string(n.address)),
                    JSON.Member("IPPrefixLen", .int(Int64(n.prefixLength))), JSON.Member("IPv6Gateway", .string(n.ipv6Gateway)),
                    JSON.Member("GlobalIPv6Address", .string(n.ipv6Address)),
                    JSON.Member("GlobalIPv6PrefixLen", .int(Int64(n.ipv6PrefixLength))),
                    JSON.Member("DNSNames", .null),
                ]))
            })
        }
        return .object([defaultEntry(mode, network: network)])
    }

    /// The entry of a predefined network (the container's mode) in `NetworkSettings.Networks`.
    static func defaultEntry(_ mode: String, network: NetworkState) -> JSON.Member {
        let echoed = echoedSettings(network.predefinedSettings, ipv4Address: "")
        var mac = ""
        if case .string(let given)? = network.predefinedSettings["MacAddress"] { mac = given }
        return JSON.Member(mode.isEmpty || mode == "default" ? "bridge" : mode, .object([
            JSON.Member("IPAMConfig", echoed.ipam), JSON.Member("Links", echoed.links), JSON.Member("Aliases", .null),
            JSON.Member("MacAddress", .string(mac)), JSON.Member("DriverOpts", echoed.driverOpts), JSON.Member("NetworkID", ""),
            JSON.Member("EndpointID", ""), JSON.Member("Gateway", .string(network.gateway)),
            JSON.Member("IPAddress", .string(network.address)),
            JSON.Member("IPPrefixLen", .int(Int64(network.prefixLength))), JSON.Member("IPv6Gateway", .string(network.ipv6Gateway)),
            JSON.Member("GlobalIPv6Address", .string(network.ipv6Address)),
            JSON.Member("GlobalIPv6PrefixLen", .int(Int64(network.ipv6PrefixLength))), JSON.Member("DNSNames", .null),
        ]))
    }

    /// `ContainerSummary.Ports`: what a running container publishes.
    static func summaryPorts(_ ports: [PublishedPort]) -> JSON {
        .array(ports.map { p in
            .object([JSON.Member("IP", .string(p.hostIP.isEmpty ? "0.0.0.0" : p.hostIP)),
                     JSON.Member("PrivatePort", .int(Int64(p.containerPort))),
                     JSON.Member("PublicPort", .int(Int64(p.hostPort))), JSON.Member("Type", .string(p.proto))])
        })
    }

    /// `GET /containers/json`'s `ContainerSummary`. `image`: what `Image` shows (the name the
    /// user gave while it still names the same image, else the image id); `now`: unix nanoseconds.
    public static func summary(_ record: ContainerRecord, image: String, now: Int64,
                               size: (rw: Int64, rootFs: Int64)? = nil, health: String? = nil,
                               ports: [PublishedPort] = []) throws -> JSON {
        let stored = try StoredContainer(record)
        let labels = stored.config["Labels"] ?? .object([])
        var members: [JSON.Member] = [
            JSON.Member("Id", .string(record.id)),
            JSON.Member("Names", JSON(["/" + record.name])),
            JSON.Member("Image", .string(image)),
            JSON.Member("ImageID", .string(record.imageID)),
            JSON.Member("Command", .string(([stored.path] + stored.args).map(ContainerView.shellQuoted).joined(separator: " "))),
            JSON.Member("Created", .int(record.created / 1_000_000_000)),
            JSON.Member("Ports", summaryPorts(ports)),
        ]
        if let size {
            members.append(JSON.Member("SizeRw", .int(size.rw)))
            members.append(JSON.Member("SizeRootFs", .int(size.rootFs)))
        }
        members += [
            JSON.Member("Labels", labels == .null ? .object([]) : labels),
            JSON.Member("State", .string(record.state.rawValue)),
            JSON.Member("Status", .string(status(record, now: now, health: health))),
            JSON.Member("HostConfig", .object([JSON.Member("NetworkMode", .string(stored.networkMode))])),
            JSON.Member("NetworkSettings", .object([JSON.Member("Networks", networks(stored.networkMode))])),
            JSON.Member("Mounts", .array(stored.mounts)),
        ]
        return .object(members)
    }

    /// The members of a summary that depend on the row or the time: the rest never changes
    /// after create and is kept in the row (`ContainerRecord.summary`).
    static let dynamicSummaryMembers: Set<String> = ["Id", "Names", "Image", "ImageID", "Created", "State", "Status",
                                                     "SizeRw", "SizeRootFs"]

    /// The static members of `summary`, as JSON text without braces.
    static func staticSummary(_ record: ContainerRecord) throws -> [UInt8] {
        guard case .object(let members) = try summary(record, image: "", now: 0) else { return [] }
        var out: [UInt8] = []
        for member in members where !dynamicSummaryMembers.contains(member.key) {
            if !out.isEmpty { out.append(UInt8(ascii: ",")) }
            let text = JSON.object([member]).bytes      // {"key":value}
            out += text[1..<(text.count - 1)]
        }
        return out
    }

    /// Appends one list entry: the dynamic members, then the row's static ones. Nil when the
    /// row has none (made before they were kept): the caller renders it with `summary`.
    static func appendSummary(_ record: ContainerRecord, image: String, now: Int64,
                              size: (rw: Int64, rootFs: Int64)?, health: String? = nil, to out: inout [UInt8]) -> Bool {
        guard !record.summary.isEmpty else { return false }
        var members: [JSON.Member] = [
            JSON.Member("Id", .string(record.id)),
            JSON.Member("Names", JSON(["/" + record.name])),
            JSON.Member("Image", .string(image)),
            JSON.Member("ImageID", .string(record.imageID)),
            JSON.Member("Created", .int(record.created / 1_000_000_000)),
            JSON.Member("State", .string(record.state.rawValue)),
            JSON.Member("Status", .string(status(record, now: now, health: health))),
        ]
        if let size {
            members.append(JSON.Member("SizeRw", .int(size.rw)))
            members.append(JSON.Member("SizeRootFs", .int(size.rootFs)))
        }
        JSON.object(members).write(into: &out)
        out.removeLast()           // "}"
        out.append(UInt8(ascii: ","))
        out += record.summary
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// `docker ps`'s STATUS: "Up 3 seconds", "Up 2 hours (Paused)", "Restarting (1) 5 seconds ago",
    /// "Exited (3) 5 seconds ago", "Created", "Dead", "Removal In Progress". `now`: unix nanoseconds.
    /// `health`: the recorded health status, shown after a running container's time as moby
    /// does: "Up 3 seconds (healthy)", "Up 1 second (health: starting)".
    public static func status(_ record: ContainerRecord, now: Int64, health: String? = nil) -> String {
        func since(_ text: String) -> String {
            let nanos = parseNanos(text) ?? now
            return humanDuration(max(0, now - nanos))
        }
        switch record.state {
        case .running:
            if let health { return "Up " + since(record.startedAt) + " (" + (health == "starting" ? "health: starting" : health) + ")" }
            return "Up " + since(record.startedAt)
        case .paused:
            return "Up " + since(record.startedAt) + " (Paused)"
        case .restarting:
            return "Restarting (\(record.exitCode)) \(since(record.finishedAt)) ago"
        case .removing:
            return "Removal In Progress"
        case .dead:
            return "Dead"
        case .created, .exited:
            if record.startedAt.isEmpty { return "Created" }
            if record.finishedAt.isEmpty { return "" }
            return "Exited (\(record.exitCode)) \(since(record.finishedAt)) ago"
        }
    }

    /// go-units HumanDuration.
    public static func humanDuration(_ nanos: Int64) -> String {
        let seconds = nanos / 1_000_000_000
        if seconds < 1 { return "Less than a second" }
        if seconds == 1 { return "1 second" }
        if seconds < 60 { return "\(seconds) seconds" }
        let minutes = seconds / 60
        if minutes == 1 { return "About a minute" }
        if minutes < 60 { return "\(minutes) minutes" }
        let hours = Int64((Double(nanos) / 3.6e12).rounded())
        if hours == 1 { return "About an hour" }
        if hours < 48 { return "\(hours) hours" }
        if hours < 24 * 7 * 2 { return "\(hours / 24) days" }
        if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks" }
        if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months" }
        return "\(Int64(Double(nanos) / 3.6e12 / 24 / 365)) years"
    }

    /// Unix nanoseconds of an RFC 3339 time with an optional fraction.
    public static func parseNanos(_ text: String) -> Int64? {
        guard let seconds = Timestamp.parseRFC3339(text) else { return nil }
        var fraction: Int64 = 0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix { $0.isNumber }
            let padded = String(digits.prefix(9)) + String(repeating: "0", count: max(0, 9 - digits.count))
            fraction = Int64(padded) ?? 0
        }
        return seconds * 1_000_000_000 + fraction
    }

    /// Bytes in the container's upper directory (its changes): regular file sizes and symlink
    /// target lengths, each inode once. Directories it cannot read are skipped.
    public static func sizeRw(containerDir: String) -> Int64 {
        var total: Int64 = 0
        var seen: Set<UInt64> = []
        func walk(_ path: String) {
            for name in FileSystem.directoryEntries(path) ?? [] {
                let child = path + "/" + name
                var info = stat()
                guard lstat(child, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: walk(child)
                case S_IFREG:
                    if info.st_nlink > 1 && !seen.insert(UInt64(info.st_ino)).inserted { continue }
                    total += Int64(info.st_size)
                case S_IFLNK: total += Int64(info.st_size)
                default: break
                }
            }
        }
        walk(containerDir + "/upper")
        return total
    }
}

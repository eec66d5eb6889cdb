#if canImport(Glibc)
import Glibc
#endif
import MonitorProtocol
import Platform

/// The files the container's /etc gets: hostname, hosts, resolv.conf.
extension ContainerPlanner {
    static func hostHostname() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return String(fixedCString: names.nodename)
    }

    /// /etc/hosts as Docker writes it: the host's with host networking; else the base
    /// (containers.conf `base_hosts_file`: "" or "none" Docker's loopback entries, "image" the
    /// image's file, else that file), then ExtraHosts, then on the default network the
    /// container's address with its name and the host's (`host.containers.internal`,
    /// `host.docker.internal`), or its name on 127.0.0.1 with `none`. `host-gateway` is the host.
    func hostsFile(networkMode: String, hostname: String, domainname: String = "",
                   extraHosts: [(name: String, address: String)], network: UserModeNetwork? = nil,
                   pasta: PastaAddressing? = nil, lowerDirs: [String] = []) -> String {
        var text: String
        let defaults = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
            + "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        func read(_ path: String) -> String? {
            guard let bytes = try? FileSystem.readFile(path) else { return nil }
            var text = String(decoding: bytes, as: UTF8.self)
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            return text
        }
        let base = engine.config.baseHostsFile
        if networkMode == "host", let hosts = read(hostHosts) {
            text = hosts
        } else if base == "image" {
            text = lowerDirs.lazy.compactMap { read($0 + "/etc/hosts") }.first ?? defaults
        } else if !base.isEmpty && base != "none" {
            text = read(base) ?? defaults
        } else {
            text = defaults
        }
        // A user-defined network: the host through the keeper's uplink (none on an Internal one).
        let uplink = network == nil && pasta == nil ? uplinkOfUserNetwork(networkMode) : nil
        let hostAddress = pasta?.hostAddress
            ?? (network ?? uplink).flatMap { ContainerNetwork.hostAddress($0, settings: engine.config) }
        for entry in extraHosts {
            let address = entry.address == "host-gateway" ? (hostAddress ?? "127.0.0.1") : entry.address
            text += "\(address)\t\(entry.name)\n"
        }
        let names = domainname.isEmpty ? hostname : "\(hostname).\(domainname) \(hostname)"
        if let network {
            text += "\(network.containerAddress)\t\(names)\n"
            if let hostAddress { text += "\(hostAddress)\thost.containers.internal host.docker.internal\n" }
        } else if let pasta {
            // pasta: the container has the host's address (Podman writes it likewise).
            text += "\(pasta.address)\t\(names)\n"
            if let hostAddress { text += "\(hostAddress)\thost.containers.internal host.docker.internal\n" }
        } else if networkMode != "host" && networkMode != "none" {
            text += "127.0.0.1\t\(names)\n"
            if uplink != nil, let hostAddress { text += "\(hostAddress)\thost.containers.internal host.docker.internal\n" }
        }
        return text
    }

    /// resolv.conf: the request's Dns/DnsSearch/DnsOptions over the host's file; without host
    /// networking, loopback name servers of the host are dropped (they are not reachable). On a
    /// user-defined network (`gateway`: its gateway) the only server is the network keeper's DNS
    /// responder on the gateway, which forwards other names to the Dns servers (Docker's
    /// embedded DNS does so too; docs/networking.md, "Names between containers").
    func resolvConf(_ host: CreateRequest.HostConfig, network: UserModeNetwork? = nil, pasta: PastaAddressing? = nil,
                    gateway: String? = nil) -> String {
        let hostText = (try? FileSystem.readFile(hostResolvConf)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var servers: [String] = [], search: [String] = [], options: [String] = []
        for line in hostText.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = words.first else { continue }
            switch first {
            case "nameserver" where words.count > 1: servers.append(words[1])
            case "search", "domain": search = Array(words.dropFirst())
            case "options": options += words.dropFirst()
            default: break
            }
        }
        if host.networkMode != "host" {
            servers = servers.filter { !$0.hasPrefix("127.") && $0 != "::1" }
        }
        // The default network: slirp4netns's DNS forwarder first (it asks the host's servers,
        // loopback ones too), as Podman writes it.
        if let network { servers = [network.dnsServer] + servers }
        // pasta: the host's servers as they are (its routes are the host's), after its
        // `--dns-forward` address when one is given.
        if let forward = pasta?.dnsForward { servers = [forward] + servers }
        let settings = engine.config
        if !settings.dnsServers.isEmpty { servers = settings.dnsServers }
        if !settings.dnsSearches.isEmpty { search = settings.dnsSearches }
        if !settings.dnsOptions.isEmpty { options = settings.dnsOptions }
        if !host.dns.isEmpty { servers = host.dns }
        if !host.dnsSearch.isEmpty { search = host.dnsSearch == ["."] ? [] : host.dnsSearch }
        if !host.dnsOptions.isEmpty { options = host.dnsOptions }
        if let gateway { servers = [gateway] }
        var text = ""
        if !search.isEmpty { text += "search " + search.joined(separator: " ") + "\n" }
        for server in servers { text += "nameserver \(server)\n" }
        if !options.isEmpty { text += "options " + options.joined(separator: " ") + "\n" }
        return text
    }
}

extension ContainerPlanner {
    /// The uplink a container on the user-defined network `mode` reaches the host through
    /// (containers.conf's slirp4netns); nil for another mode or an Internal network.
    func uplinkOfUserNetwork(_ mode: String) -> UserModeNetwork? {
        guard case .user(let record)? = try? engine.findNetwork(mode), !record.isInternal else { return nil }
        return try? ContainerNetwork.userMode(engine.config)
    }
}

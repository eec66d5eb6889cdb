#if canImport(Glibc)
import Glibc
#endif
import Platform

/// The files the container's /etc gets: hostname, hosts, resolv.conf.
extension ContainerPlanner {
    static func hostHostname() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return String(fixedCString: names.nodename)
    }

    /// /etc/hosts: the host's with host networking, else the loopback entries and the
    /// container's own name on 127.0.0.1 (a bridge network here has loopback only); then ExtraHosts.
    func hostsFile(networkMode: String, hostname: String, extraHosts: [(name: String, address: String)]) -> String {
        var text: String
        if networkMode == "host", let bytes = try? FileSystem.readFile(hostHosts) {
            text = String(decoding: bytes, as: UTF8.self)
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        } else {
            text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                + "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            if networkMode != "none" { text += "127.0.0.1\t\(hostname)\n" }
        }
        for entry in extraHosts {
            let address = entry.address == "host-gateway" ? "127.0.0.1" : entry.address
            text += "\(address)\t\(entry.name)\n"
        }
        return text
    }

    /// resolv.conf: the request's Dns/DnsSearch/DnsOptions over the host's file; without host
    /// networking, loopback name servers of the host are dropped (they are not reachable).
    func resolvConf(_ host: CreateRequest.HostConfig) -> String {
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
        if !host.dns.isEmpty { servers = host.dns }
        if !host.dnsSearch.isEmpty { search = host.dnsSearch == ["."] ? [] : host.dnsSearch }
        if !host.dnsOptions.isEmpty { options = host.dnsOptions }
        var text = ""
        if !search.isEmpty { text += "search " + search.joined(separator: " ") + "\n" }
        for server in servers { text += "nameserver \(server)\n" }
        if !options.isEmpty { text += "options " + options.joined(separator: " ") + "\n" }
        return text
    }
}

import MonitorProtocol
import Store

/// Names between containers on user-defined networks (docs/networking.md, "Names between
/// containers"): what the network keeper's DNS responder is told with each endpoint, and the
/// nameserver the container's /etc/resolv.conf names.
extension Engine {
    /// The names a container answers to on a network: its name, the endpoint's aliases and its
    /// short id, as Docker's embedded DNS (only those that are DNS host names).
    static func dnsNames(containerName: String, aliases: [String], id: String) -> [String] {
        let name = containerName.hasPrefix("/") ? String(containerName.dropFirst()) : containerName
        return NetworkEndpoint.dnsNames([name] + aliases + [Store.shortID(id)])
    }

    /// Where the responder sends the container's other names: `--dns` (`HostConfig.Dns`), else
    /// containers.conf `dns_servers`, as Docker's embedded DNS forwards to them; IPv4 ones, three
    /// at most (the keeper's upstream socket is IPv4); none: the host's resolv.conf's.
    func dnsUpstreams(of record: ContainerRecord) -> [String] {
        let stored = try? StoredContainer(record)
        let given = stored.map { $0.strings($0.hostConfig["Dns"]) } ?? []
        let servers = given.isEmpty ? config.dnsServers : given
        return Array(servers.filter { IPv4Subnet.parseAddress($0) != nil }.prefix(3))
    }
}

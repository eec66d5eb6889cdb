#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// The container's /etc/hosts follows `network connect` and `disconnect` (docs/networking.md,
/// "Connect and disconnect"), as moby 25's sandbox does: joining a network adds
/// `ADDRESS<TAB>HOSTNAME` (its `updateHostsFile` at each endpoint's join; with an IPv6
/// address a second line), leaving removes them (`deleteHostsEntries`). The file is rewritten
/// in place, so a running container, which has it bind-mounted, sees the change.
extension Engine {
    /// The lines a container's endpoint on a user-defined network has in its /etc/hosts: its
    /// IPv4 address's, and its IPv6 address's on an IPv6 network (create writes them too).
    static func hostsLines(_ endpoint: NetworkEndpointRecord, hostname: String) -> [String] {
        var lines: [String] = []
        if let address = IPv4Subnet(cidr: endpoint.address)?.address { lines.append("\(IPv4Subnet.format(address))\t\(hostname)") }
        if let address = IPv6Subnet(cidr: endpoint.ipv6Address)?.address { lines.append("\(IPv6Subnet.format(address))\t\(hostname)") }
        return lines
    }

    /// The same for a created container: its host name is its config's, else its short id.
    static func hostsLines(_ endpoint: NetworkEndpointRecord, record: ContainerRecord) -> [String] {
        guard let stored = try? StoredContainer(record) else { return [] }
        var hostname = ""
        if case .string(let name)? = stored.config["Hostname"] { hostname = name }
        if hostname.isEmpty { hostname = String(record.id.prefix(12)) }
        return hostsLines(endpoint, hostname: hostname)
    }

    /// Adds (or, `add` false, removes every copy of) the lines of the container's `endpoint`.
    /// A file that cannot be read or written is left as it is: the endpoint is made either way.
    func updateHostsFile(of record: ContainerRecord, endpoint: NetworkEndpointRecord, add: Bool) {
        let wanted = Engine.hostsLines(endpoint, record: record)
        guard !wanted.isEmpty, let stored = try? StoredContainer(record), !stored.hostsPath.isEmpty,
              let bytes = try? FileSystem.readFile(stored.hostsPath) else { return }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let before = lines
        if add {
            lines += wanted.filter { !lines.contains($0) }
        } else {
            lines = lines.filter { !wanted.contains($0) }
        }
        guard lines != before else { return }
        let text = Array((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8)
        let fd = open(stored.hostsPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var written = 0
        while written < text.count {
            let n = text[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            written += n
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// The container's /etc/hosts follows `network connect` and `disconnect` (docs/networking.md,
/// "Connect and disconnect"), as moby 25's sandbox does: joining a network adds
/// `ADDRESS<TAB>HOSTNAME` (its `updateHostsFile` at each endpoint's join), leaving removes
/// that line (`deleteHostsEntries`). The file is rewritten in place, so a running container,
/// which has it bind-mounted, sees the change.
extension Engine {
    /// The line a container's address on a user-defined network has in its /etc/hosts (as
    /// create writes it).
    static func hostsLine(address cidr: String, record: ContainerRecord) -> String? {
        guard let address = IPv4Subnet(cidr: cidr)?.address,
              let stored = try? StoredContainer(record) else { return nil }
        var hostname = ""
        if case .string(let name)? = stored.config["Hostname"] { hostname = name }
        if hostname.isEmpty { hostname = String(record.id.prefix(12)) }
        return "\(IPv4Subnet.format(address))\t\(hostname)"
    }

    /// Adds (or, `add` false, removes every copy of) the container's line for `address`.
    /// A file that cannot be read or written is left as it is: the endpoint is made either way.
    func updateHostsFile(of record: ContainerRecord, address: String, add: Bool) {
        guard let stored = try? StoredContainer(record), !stored.hostsPath.isEmpty,
              let line = Engine.hostsLine(address: address, record: record),
              let bytes = try? FileSystem.readFile(stored.hostsPath) else { return }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        if add {
            guard !lines.contains(line) else { return }
            lines.append(line)
        } else {
            let kept = lines.filter { $0 != line }
            guard kept.count != lines.count else { return }
            lines = kept
        }
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

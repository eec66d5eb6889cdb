/// One forwarded port of a running container (`-p`, `-P`), resolved by the service when it
/// starts the container (a random host port chosen, the host port checked) and written to
/// `<run>/ports` before it says `start`; the monitor reads the file and has slirp4netns forward
/// each (docs/networking.md). Inspect's `NetworkSettings.Ports` and the list's `Ports` read it too.
public struct PublishedPort: Sendable, Equatable, Hashable {
    /// `tcp` or `udp`.
    public var proto: String
    /// The host address it listens on: "" for all (Docker's `0.0.0.0`).
    public var hostIP: String
    public var hostPort: Int
    public var containerPort: Int

    public init(proto: String, hostIP: String, hostPort: Int, containerPort: Int) {
        self.proto = proto
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.containerPort = containerPort
    }

    /// The file's name in the run directory.
    public static let fileName = "ports"

    /// One line of the file: `PROTO HOST-IP HOST-PORT CONTAINER-PORT`, `-` for all addresses.
    public var line: String { "\(proto) \(hostIP.isEmpty ? "-" : hostIP) \(hostPort) \(containerPort)" }

    public init?(line: Substring) {
        let words = line.split(separator: " ")
        guard words.count == 4, words[0] == "tcp" || words[0] == "udp",
              let hostPort = Int(words[2]), (1...65535).contains(hostPort),
              let containerPort = Int(words[3]), (1...65535).contains(containerPort) else { return nil }
        self.init(proto: String(words[0]), hostIP: words[1] == "-" ? "" : String(words[1]), hostPort: hostPort,
                  containerPort: containerPort)
    }

    /// The file's text for `ports`.
    public static func file(_ ports: [PublishedPort]) -> String {
        ports.map { $0.line + "\n" }.joined()
    }

    /// Parses the file's text; nil when a line is not a port.
    public static func parse(file text: String) -> [PublishedPort]? {
        var ports: [PublishedPort] = []
        for line in text.split(separator: "\n") {
            guard let port = PublishedPort(line: line) else { return nil }
            ports.append(port)
        }
        return ports
    }

    /// slirp4netns's API request that forwards this port to `guest` (the container's address).
    public func addRequest(guest: String) -> String {
        #"{"execute":"add_hostfwd","arguments":{"proto":"\#(proto)","host_addr":"\#(hostIP.isEmpty ? "0.0.0.0" : hostIP)","host_port":\#(hostPort),"guest_addr":"\#(guest)","guest_port":\#(containerPort)}}"#
    }
}

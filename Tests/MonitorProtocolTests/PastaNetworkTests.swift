import MonitorProtocol
import Testing

@Suite struct PastaNetworkTests {
    @Test func argumentRoundTripsWithCommasAndPercentsInOptions() throws {
        var network = PastaNetwork(program: "/usr/bin/pasta")
        try network.apply(options: ["--map-gw", "-T", "8080,9090", "--log-file=/tmp/a%b", "-a", "192.0.2.9", "--ns-ifname=eth9"])
        network.publishes = true
        let parsed = try #require(PastaNetwork(argument: network.argument))
        #expect(parsed == network)
        #expect(parsed.mapGateway && parsed.publishes)
        #expect(parsed.options == ["-T", "8080,9090", "--log-file=/tmp/a%b", "-a", "192.0.2.9", "--ns-ifname=eth9"])
        #expect((parsed.address, parsed.interface) == ("192.0.2.9", "eth9"))
        #expect(PastaNetwork(argument: "/usr/bin/pasta,map_gw=maybe,publishes=false") == nil)
        #expect(PastaNetwork(argument: "pasta,map_gw=true,publishes=false") == nil)
        #expect(PastaNetwork(argument: "/usr/bin/pasta,map_gw=true,publishes=false,--netns") == nil)
    }

    @Test(arguments: [
        ("--netns=/x", "pasta_options: --netns is set by Skiff (docs/networking.md)"),
        ("-f", "pasta_options: -f is set by Skiff (docs/networking.md)"),
        ("--config-net", "pasta_options: --config-net is set by Skiff (docs/networking.md)"),
        ("-t", "pasta_options: -t: published ports come from -p/--publish (docs/networking.md)"),
        ("--udp-ports=53", "pasta_options: --udp-ports: published ports come from -p/--publish (docs/networking.md)"),
        ("--bogus", "unknown option for pasta: --bogus"),
        ("1234", "pasta_options: 1234: not an option (pasta runs no command and takes no PID here)"),
        ("--quiet=1", "pasta_options: --quiet takes no value: --quiet=1"),
        ("--mtu=10", "pasta_options: --mtu: cannot parse mtu value 10"),
        ("-D", "pasta_options: -D needs a value"),
    ])
    func refusesWhatSkiffSetsOrPastaDoesNotTake(option: String, message: String) {
        var network = PastaNetwork(program: "/usr/bin/pasta")
        #expect(throws: NetworkOptionError(message)) { try network.apply(options: [option]) }
    }

    @Test func commandLineForwardsThePublishedPortsAndClosesTheGatewayByDefault() {
        let network = PastaNetwork(program: "/usr/bin/pasta")
        let ports = [PublishedPort(proto: "tcp", hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80),
                     PublishedPort(proto: "tcp", hostIP: "", hostPort: 8443, containerPort: 443)]
        let argv = network.commandLine(networkNamespace: "/proc/self/fd/4", userNamespace: "/proc/self/fd/5",
                                       readyPath: "/proc/self/fd/3", ports: ports)
        #expect(argv == ["/usr/bin/pasta", "--config-net", "--foreground", "--quiet", "--pid", "/proc/self/fd/3",
                         "-t", "127.0.0.1/8080:80", "-t", "8443:443", "-u", "none", "-T", "none", "-U", "none",
                         "--no-map-gw", "--userns", "/proc/self/fd/5", "--netns", "/proc/self/fd/4"])
    }

    @Test func commandLineWithoutPortsAndWithTheGatewayMapped() throws {
        var network = PastaNetwork(program: "/usr/bin/pasta")
        try network.apply(options: ["--map-gw", "-U", "53"])
        let argv = network.commandLine(networkNamespace: "/proc/self/fd/4", userNamespace: nil, readyPath: "/proc/self/fd/3",
                                       ports: [PublishedPort(proto: "udp", hostIP: "", hostPort: 5353, containerPort: 53)])
        #expect(argv == ["/usr/bin/pasta", "--config-net", "--foreground", "--quiet", "--pid", "/proc/self/fd/3",
                         "-u", "5353:53", "-t", "none", "-T", "none", "-U", "53", "--netns", "/proc/self/fd/4"])
    }
}

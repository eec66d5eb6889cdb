import MonitorProtocol
import Testing

@Suite struct UserModeNetworkTests {
    @Test func argumentRoundTripsAndDerivesTheAddresses() throws {
        var network = UserModeNetwork(program: "/usr/bin/slirp4netns")
        #expect(network.portHandler == .rootlessport)
        try network.apply(options: ["allow_host_loopback=true", "mtu=1500", "cidr=10.9.8.0/24", "outbound_addr=192.0.2.7",
                                    "port_handler=slirp4netns"])
        let parsed = try #require(UserModeNetwork(argument: network.argument))
        #expect(parsed == network)
        #expect(parsed.portHandler == .slirp4netns)
        #expect((parsed.containerAddress, parsed.gateway, parsed.dnsServer) == ("10.9.8.100", "10.9.8.2", "10.9.8.3"))
    }

    @Test(arguments: [
        ("bogus=1", "unknown option for slirp4netns: bogus=1"),
        ("allow_host_loopback", "unknown option for slirp4netns: allow_host_loopback"),
        ("allow_host_loopback=yes", "cannot parse allow_host_loopback value yes"),
        ("mtu=10", "cannot parse mtu value 10"),
        ("cidr=10.0.2.0/16", "invalid cidr 10.0.2.0/16: Skiff takes an IPv4 /24 network"),
        ("port_handler=pasta", "unknown port_handler for slirp4netns: pasta"),
    ])
    func refusesWhatPodmanRefuses(option: String, message: String) {
        var network = UserModeNetwork(program: "/usr/bin/slirp4netns")
        #expect(throws: NetworkOptionError(message)) { try network.apply(options: [option]) }
    }

    @Test func commandLineJoinsByPathAndClosesHostLoopbackByDefault() {
        let network = UserModeNetwork(program: "/usr/bin/slirp4netns")
        let argv = network.commandLine(networkNamespace: "/proc/self/fd/5", userNamespace: "/proc/self/fd/6",
                                       readyFD: 3, exitFD: 4, apiSocket: "/run/x/net")
        #expect(argv == ["/usr/bin/slirp4netns", "--configure", "--mtu=65520", "--cidr=10.0.2.0/24", "--ready-fd=3",
                         "--exit-fd=4", "--netns-type=path", "--userns-path=/proc/self/fd/6", "--disable-host-loopback",
                         "--enable-ipv6", "--api-socket=/run/x/net", "/proc/self/fd/5", "tap0"])
    }

    @Test func ipv6IsOnByDefaultAsInPodman4AndCanBeTurnedOff() throws {
        var network = UserModeNetwork(program: "/usr/bin/slirp4netns")
        #expect(network.enableIPv6)
        try network.apply(options: ["enable_ipv6=false"])
        #expect(!network.commandLine(networkNamespace: "/n", userNamespace: nil, readyFD: 3, exitFD: 4, apiSocket: nil)
            .contains("--enable-ipv6"))
        #expect(try #require(UserModeNetwork(argument: network.argument)).enableIPv6 == false)
        #expect(try #require(UserModeNetwork(argument: "/usr/bin/slirp4netns,mtu=65520")).enableIPv6)
        #expect(throws: NetworkOptionError("cannot parse enable_ipv6 value yes")) { try network.apply(options: ["enable_ipv6=yes"]) }
    }

    @Test(arguments: [("tcp - 8080 80", true), ("udp 127.0.0.1 5353 53", true), ("sctp - 1 1", false),
                      ("tcp - 0 80", false), ("tcp - 80", false), ("tcp - 70000 80", false)])
    func portLines(line: String, valid: Bool) {
        let port = PublishedPort(line: Substring(line))
        #expect((port != nil) == valid)
        if let port { #expect(port.line == line) }
    }

    @Test func portFileRoundTripsAndMakesTheAPIRequest() throws {
        let ports = [PublishedPort(proto: "tcp", hostIP: "", hostPort: 8080, containerPort: 80),
                     PublishedPort(proto: "udp", hostIP: "127.0.0.1", hostPort: 5353, containerPort: 53)]
        #expect(PublishedPort.parse(file: PublishedPort.file(ports)) == ports)
        #expect(PublishedPort.parse(file: "tcp - 1 1\nnonsense\n") == nil)
        #expect(ports[0].addRequest(guest: "10.0.2.100")
                == #"{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"0.0.0.0","host_port":8080,"guest_addr":"10.0.2.100","guest_port":80}}"#)
    }
}

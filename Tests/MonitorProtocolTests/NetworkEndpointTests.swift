import MonitorProtocol
import Testing

/// `skiff-monitor --endpoints` and the keeper's `attach` request.
@Suite struct NetworkEndpointTests {
    @Test func argumentRoundTrips() throws {
        let endpoints = [
            NetworkEndpoint(interface: "eth0", bridge: "br-0123456789ab", address: "172.18.0.2", prefixLength: 16,
                            gateway: "172.18.0.1", mtu: 1500, defaultRoute: true),
            NetworkEndpoint(interface: "eth1", bridge: "br-ba9876543210", address: "10.9.0.77", prefixLength: 24,
                            gateway: "10.9.0.254", mtu: 1400),
        ]
        let argument = NetworkEndpoint.argument(endpoints)
        #expect(argument == "eth0,br-0123456789ab,172.18.0.2/16,172.18.0.1,1500,1;eth1,br-ba9876543210,10.9.0.77/24,10.9.0.254,1400,0")
        #expect(NetworkEndpoint.parse(argument: argument) == endpoints)
        #expect(endpoints[1].attachRequest == "attach br-ba9876543210 10.9.0.254 24 1400 eth1 10.9.0.77 02:42:0a:09:00:4d 0")
    }

    @Test func anInternalNetworkIsMarkedForTheKeeper() throws {
        var endpoint = NetworkEndpoint(interface: "eth0", bridge: "br-0123456789ab", address: "10.72.0.2", prefixLength: 24,
                                       gateway: "10.72.0.1", mtu: 1500, defaultRoute: true)
        endpoint.isInternal = true
        let argument = NetworkEndpoint.argument([endpoint])
        #expect(argument == "eth0,br-0123456789ab,10.72.0.2/24,10.72.0.1,1500,1,internal")
        #expect(NetworkEndpoint.parse(argument: argument) == [endpoint])
        #expect(endpoint.attachRequest == "attach br-0123456789ab 10.72.0.1 24 1500 eth0 10.72.0.2 02:42:0a:48:00:02 1 1")
        #expect(NetworkEndpoint.parse(argument: "eth0,br-0123456789ab,10.72.0.2/24,10.72.0.1,1500,1,external") == nil)
    }

    @Test(arguments: [
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500",          // a field short
        "eth0,br-x,172.18.0.2/33,172.18.0.1,1500,1",        // prefix
        "eth0,br-x,172.18.0.2,172.18.0.1,1500,1",           // no prefix
        "eth0,br-x,172.18.0.2/16,gateway,1500,1",           // gateway
        "eth0,br-x,172.18.0.2/16,172.18.0.1,big,1",         // mtu
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,yes",      // route
        ",br-x,172.18.0.2/16,172.18.0.1,1500,1",            // interface
        "eth0,br-0123456789abcdef,172.18.0.2/16,172.18.0.1,1500,1", // longer than IFNAMSIZ
    ])
    func refusesWhatIsNotAnEndpoint(_ argument: String) {
        #expect(NetworkEndpoint.parse(argument: argument) == nil)
    }

    @Test func macAndBridgeNamesAreDockers() {
        #expect(NetworkEndpoint.macAddress(for: "172.17.0.2") == "02:42:ac:11:00:02")
        #expect(NetworkEndpoint.macAddress(for: "nonsense") == "")
        #expect(NetworkEndpoint.bridgeName(networkID: String(repeating: "ab", count: 32)) == "br-abababababab")
    }
}

/// The names and servers an endpoint gives the keeper's DNS responder (docs/networking.md,
/// "Names between containers").
@Suite struct NetworkEndpointDNSTests {
    @Test func namesAndServersRoundTripAndExtendTheAttachRequest() throws {
        let endpoint = NetworkEndpoint(interface: "eth0", bridge: "br-0123456789ab", address: "172.18.0.2", prefixLength: 16,
                                       gateway: "172.18.0.1", defaultRoute: true, names: ["web", "db.local", "0123456789ab"],
                                       upstreams: ["192.0.2.53", "127.0.0.1"])
        let argument = NetworkEndpoint.argument([endpoint])
        #expect(argument == "eth0,br-0123456789ab,172.18.0.2/16,172.18.0.1,1500,1,web|db.local|0123456789ab,192.0.2.53|127.0.0.1")
        #expect(NetworkEndpoint.parse(argument: argument) == [endpoint])
        #expect(endpoint.attachRequest == "attach br-0123456789ab 172.18.0.1 16 1500 eth0 172.18.0.2 02:42:ac:12:00:02 1 0 web,db.local,0123456789ab 192.0.2.53,127.0.0.1")
        var namesOnly = endpoint
        namesOnly.upstreams = []
        #expect(namesOnly.attachRequest.hasSuffix(" 1 0 web,db.local,0123456789ab -"))
        #expect(NetworkEndpoint.parse(argument: NetworkEndpoint.argument([namesOnly])) == [namesOnly])
    }

    @Test(arguments: [
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,web",                 // a field short
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,Web,",                // not lowercase
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,a b,",                // not a host name
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,web,dns.example",     // a server that is no address
        "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,web,1.1.1.1|2.2.2.2|3.3.3.3|4.4.4.4", // four servers
    ])
    func refusesBadNamesAndServers(_ argument: String) {
        #expect(NetworkEndpoint.parse(argument: argument) == nil)
    }

    @Test(arguments: [
        (["Web", "web", "WEB.example"], ["web", "web.example"]),          // lowercase, once each
        (["my_app", "x-1.y"], ["my_app", "x-1.y"]),
        (["with space", "-", "a..b", ".a", "a.", "", "ünï"], []),         // not host names
        ([String(repeating: "a", count: 64), String(repeating: "b", count: 63)], [String(repeating: "b", count: 63)]),
        ((0..<20).map { "n\($0)" }, (0..<16).map { "n\($0)" }),            // sixteen at most
    ])
    func dnsNamesKeepHostNamesOnly(_ candidates: [String], _ expected: [String]) {
        #expect(NetworkEndpoint.dnsNames(candidates) == expected)
    }
}

/// Links and a MAC address asked for (docs/networking.md, "Containers on user-defined networks"):
/// trailing fields of the monitor's argument, the last token and the MAC of the attach request.
@Suite struct NetworkEndpointSettingsTests {
    @Test func linksAndMACRoundTripAndExtendTheAttachRequest() throws {
        var endpoint = NetworkEndpoint(interface: "eth1", bridge: "br-0123456789ab", address: "10.79.0.3", prefixLength: 24,
                                       gateway: "10.79.0.1", names: ["linker"], upstreams: [])
        endpoint.links = ["bar=upstream", "linker=linker"]
        endpoint.mac = "02:42:ac:11:00:02"
        endpoint.isInternal = true
        let argument = NetworkEndpoint.argument([endpoint])
        #expect(argument == "eth1,br-0123456789ab,10.79.0.3/24,10.79.0.1,1500,0,linker,,internal,links=bar=upstream|linker=linker,mac=02:42:ac:11:00:02")
        #expect(NetworkEndpoint.parse(argument: argument) == [endpoint])
        #expect(endpoint.attachRequest == "attach br-0123456789ab 10.79.0.1 24 1500 eth1 10.79.0.3 02:42:ac:11:00:02 0 1 linker - bar=upstream,linker=linker")
        endpoint.links = []
        endpoint.isInternal = false
        #expect(NetworkEndpoint.parse(argument: NetworkEndpoint.argument([endpoint])) == [endpoint])
        #expect(endpoint.attachRequest.hasSuffix(" 02:42:ac:11:00:02 0 0 linker -"))
    }

    @Test(arguments: [
        "eth0,br-x,10.0.0.2/24,10.0.0.1,1500,1,web,,links=Bar=web",       // not lowercase
        "eth0,br-x,10.0.0.2/24,10.0.0.1,1500,1,web,,links=bar",           // no target
        "eth0,br-x,10.0.0.2/24,10.0.0.1,1500,1,web,,mac=02:42:zz:00:00:01",
        "eth0,br-x,10.0.0.2/24,10.0.0.1,1500,1,web,,mac=02:42",
        "eth0,br-x,10.0.0.2/24,10.0.0.1,1500,1,web,,links=" + (0..<9).map { "a\($0)=web" }.joined(separator: "|"),
    ])
    func refusesBadLinksAndMACs(_ argument: String) {
        #expect(NetworkEndpoint.parse(argument: argument) == nil)
    }
}

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

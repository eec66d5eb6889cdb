@testable import APIServer
import MonitorProtocol
import Testing

@Suite struct PastaAddressingTests {
    static let routeTable = """
        Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
        eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
        wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
        """
    static let addresses = [PastaAddressing.InterfaceAddress(interface: "eth0", address: "192.0.2.2", prefixLength: 24),
                            PastaAddressing.InterfaceAddress(interface: "wlan0", address: "192.168.1.5", prefixLength: 24)]

    @Test func defaultRoutesAreReadInTheHostsByteOrder() {
        #expect(PastaAddressing.defaultRoutes(Self.routeTable) == [.init(interface: "eth0", gateway: "192.0.2.1"),
                                                                    .init(interface: "wlan0", gateway: "192.168.1.1")])
    }

    @Test func copiesTheFirstDefaultRoutesInterfaceAndNamesAnotherHostAddressForTheHost() throws {
        let network = PastaNetwork(program: "/usr/bin/pasta")
        let a = try #require(PastaAddressing(network, hostContainersInternalIP: "",
                                             routes: PastaAddressing.defaultRoutes(Self.routeTable), interfaces: Self.addresses))
        #expect((a.address, a.gateway, a.prefixLength, a.interface) == ("192.0.2.2", "192.0.2.1", 24, "eth0"))
        #expect(a.hostAddress == "192.168.1.5")
        // Only the address the container copies: nothing reaches the host (Podman writes no entry).
        let alone = try #require(PastaAddressing(network, hostContainersInternalIP: "",
                                                 routes: PastaAddressing.defaultRoutes(Self.routeTable),
                                                 interfaces: [Self.addresses[0]]))
        #expect(alone.hostAddress == nil)
        #expect(PastaAddressing(network, hostContainersInternalIP: "", routes: [], interfaces: Self.addresses) == nil)
    }

    @Test func optionsAndContainersConfOverride() throws {
        var network = PastaNetwork(program: "/usr/bin/pasta")
        try network.apply(options: ["--map-gw", "-i", "wlan0", "-n", "255.255.0.0", "-I", "tap9", "--dns-forward", "10.0.0.53"])
        let a = try #require(PastaAddressing(network, hostContainersInternalIP: "",
                                             routes: PastaAddressing.defaultRoutes(Self.routeTable), interfaces: Self.addresses))
        #expect((a.address, a.gateway, a.prefixLength, a.interface) == ("192.168.1.5", "192.168.1.1", 16, "tap9"))
        #expect(a.hostAddress == "192.168.1.1")   // --map-gw: the gateway reaches the host's loopback
        #expect(a.dnsForward == "10.0.0.53")
        let fixed = try #require(PastaAddressing(network, hostContainersInternalIP: "10.9.9.9",
                                                 routes: PastaAddressing.defaultRoutes(Self.routeTable), interfaces: Self.addresses))
        #expect(fixed.hostAddress == "10.9.9.9")
    }

    @Test(arguments: [("24", 24), ("255.255.255.0", 24), ("255.255.0.0", 16), ("255.0.255.0", nil), ("40", nil)])
    func prefixLengths(text: String, length: Int?) {
        #expect(PastaAddressing.prefixLength(text) == length)
    }
}

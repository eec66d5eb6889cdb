@testable import APIServer
import Testing

@Suite struct ContainerIPv6Tests {
    static let addresses = """
        fe80000000000000708d30fffebd5dbc 02 40 20 80     tap0
        fd00000000000000708d30fffebd5dbc 02 40 00 00     tap0
        00000000000000000000000000000001 01 80 10 80       lo
        """
    static let routes = """
        fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     tap0
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000400 00000001 00000000 00450003     tap0
        """

    @Test func readsTheGlobalAddressAndTheDefaultRoutesNextHop() {
        let ipv6 = ContainerIPv6.parse(addresses: Self.addresses, routes: Self.routes, interface: "tap0")
        #expect(ipv6 == ContainerIPv6(address: "fd00::708d:30ff:febd:5dbc", prefixLength: 64, gateway: "fe80::2"))
    }

    @Test func noGlobalAddressYetIsNone() {
        let early = Self.addresses.split(separator: "\n").filter { !$0.contains("fd00") }.joined(separator: "\n")
        #expect(ContainerIPv6.parse(addresses: early, routes: "", interface: "tap0") == nil)
        #expect(ContainerIPv6.parse(addresses: Self.addresses, routes: Self.routes, interface: "eth0") == nil)
    }
}

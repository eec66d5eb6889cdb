import Store
@testable import APIServer
import Testing

@Suite struct IPv6SubnetTests {
    @Test func parsesMasksAndCompares() throws {
        let subnet = try #require(IPv6Subnet(cidr: "2001:389::/64"))
        #expect(subnet.description == "2001:389::/64" && subnet.isMasked)
        #expect(IPv6Subnet(cidr: "fd12::1/64")?.masked.description == "fd12::/64")
        #expect(IPv6Subnet(cidr: "fd12::/129") == nil && IPv6Subnet(cidr: "10.0.0.0/8") == nil && IPv6Subnet(cidr: "fd12::") == nil)
        #expect(subnet.contains(try #require(IPv6Subnet.parseAddress("2001:389::f00d"))))
        #expect(!subnet.contains(try #require(IPv6Subnet.parseAddress("2001:38a::1"))))
        #expect(subnet.overlaps(try #require(IPv6Subnet(cidr: "2001:389::/96"))))
        #expect(!subnet.overlaps(try #require(IPv6Subnet(cidr: "2001:389:0:1::/64"))))
        #expect(subnet.address(at: 1).map(IPv6Subnet.format) == "2001:389::1")
        #expect(try #require(IPv6Subnet(cidr: "fd12::/127")).address(at: 2) == nil)
    }

    @Test func picksTheLowestFreeAddressOfTheRangeAndChecksAWantedOne() throws {
        var network = NetworkRecord(id: "n", name: "n", created: 0, driver: "bridge", subnet: "172.18.0.0/16", gateway: "172.18.0.1")
        (network.ipv6Subnet, network.ipv6Gateway) = ("2001:389::/64", "2001:389::ffff")
        #expect(try Engine.pickIPv6Address(on: network, taken: ["2001:389::1/64"], wanted: nil) == "2001:389::2/64")
        network.ipv6Range = "2001:389::ffff/128"
        #expect(throws: EngineError.self) { try Engine.pickIPv6Address(on: network, taken: [], wanted: nil) }
        let wanted = try #require(IPv6Subnet.parseAddress("2001:389::f00d"))
        #expect(try Engine.pickIPv6Address(on: network, taken: [], wanted: wanted) == "2001:389::f00d/64")
        #expect(throws: EngineError.self) { try Engine.pickIPv6Address(on: network, taken: ["2001:389::f00d/64"], wanted: wanted) }
        network.ipv6Subnet = ""
        #expect(try Engine.pickIPv6Address(on: network, taken: [], wanted: nil) == "")
    }
}

import Store
import Testing
@testable import APIServer

/// Addresses of containers on user-defined networks: picked from the range (the gateway, the
/// network and broadcast addresses skipped), or checked when asked for, with moby's messages.
@Suite struct NetworkJoinTests {
    private func network(subnet: String = "10.5.0.0/24", gateway: String = "10.5.0.1", ipRange: String = "",
                         given: Bool = true) -> NetworkRecord {
        NetworkRecord(id: String(repeating: "c", count: 64), name: "n", created: 1, driver: "bridge", subnet: subnet,
                      gateway: gateway, ipRange: ipRange, isSubnetGiven: given)
    }

    private func message(_ body: () throws -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as EngineError {
            return "\(error.code) \(error.message)"
        } catch {
            return "\(error)"
        }
    }

    @Test func picksTheLowestFreeAddressSkippingTheGateway() throws {
        let n = network()
        #expect(try Engine.pickAddress(on: n, taken: [], wanted: nil) == "10.5.0.2/24")
        #expect(try Engine.pickAddress(on: n, taken: ["10.5.0.2/24", "10.5.0.3/24"], wanted: nil) == "10.5.0.4/24")
        #expect(try Engine.pickAddress(on: network(gateway: "10.5.0.2"), taken: [], wanted: nil) == "10.5.0.1/24")
        #expect(try Engine.pickAddress(on: network(ipRange: "10.5.0.128/25"), taken: [], wanted: nil) == "10.5.0.128/24")
    }

    @Test func aFullNetworkAndATakenAddressAreMobys() {
        let n = network(subnet: "10.5.0.0/30", gateway: "10.5.0.1")
        #expect(message { try Engine.pickAddress(on: n, taken: ["10.5.0.2/30"], wanted: nil) }
                == "unavailable no available IPv4 addresses on this network's address pools: n (\(n.id))")
        #expect(message { try Engine.pickAddress(on: network(), taken: ["10.5.0.9/24"], wanted: IPv4Subnet.parseAddress("10.5.0.9")) }
                == "forbidden Address already in use")
        #expect(message { try Engine.pickAddress(on: network(), taken: [], wanted: IPv4Subnet.parseAddress("10.5.0.1")) }
                == "forbidden Address already in use")
    }

    @Test(arguments: [
        ("10.6.0.2", true, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.6.0.2"),
        ("10.5.0.0", true, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.5.0.0"),
        ("10.5.0.255", true, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.5.0.255"),
        ("10.5.0.300", true, "invalid endpoint settings:\ninvalid IPv4 address: 10.5.0.300"),
        ("10.5.0.9", false, "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets"),
    ])
    func staticAddressRefusals(_ address: String, _ given: Bool, _ expected: String) {
        #expect(message { try Engine.staticAddress(address, on: network(given: given)) } == "invalidArgument " + expected)
    }

    @Test func aStaticAddressInTheSubnetIsTaken() throws {
        #expect(try Engine.staticAddress("10.5.0.9", on: network()) == IPv4Subnet.parseAddress("10.5.0.9"))
        #expect(try Engine.staticAddress("", on: network()) == nil)
    }
}

import Testing
@testable import APIServer

/// `POST /networks/create` bodies checked as moby checks them (ValidateIPAM's messages, joined),
/// and the IPv4 arithmetic under them.
@Suite struct NetworkCreateRequestTests {
    private func request(_ body: String) throws -> NetworkCreateRequest {
        try NetworkCreateRequest.decode(Array(body.utf8))
    }

    @Test(arguments: [
        (#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.1.0.0/16","Gateway":"10.2.0.1"}]}}"#,
         "invalid network config:\ninvalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"),
        (#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.1.0.0/16","IPRange":"10.0.0.0/8"}]}}"#,
         "invalid network config:\ninvalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.1.0.0/16"),
        (#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.1.0.0/16","IPRange":"10.1.2.3/24"}]}}"#,
         "invalid network config:\ninvalid ip-range 10.1.2.3/24: it should be 10.1.2.0/24"),
        (#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.1.0.0/16","AuxiliaryAddresses":{"a":"10.9.0.1","b":"x"}}]}}"#,
         "invalid network config:\ninvalid auxiliary address a: parent subnet 10.1.0.0/16 doesn't contain this address\ninvalid auxiliary address b: invalid address"),
        (#"{"Name":"n","IPAM":{"Config":[{"Subnet":"010.1.0.0/16"}]}}"#,
         "invalid network config:\ninvalid subnet 010.1.0.0/16: invalid CIDR block notation"),
        (#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.1.0.0/16"},{"Subnet":"10.2.0.0/16"}]}}"#,
         "more than one IPv4 subnet per network is not supported by Skiff"),
    ])
    func ipamRefusals(_ body: String, _ message: String) throws {
        let given = try request(body)
        do {
            try given.validate()
            Issue.record("accepted \(body)")
        } catch let error as EngineError {
            #expect(error.code == .invalidArgument && error.message == message)
        }
    }

    @Test func aValidRequestGivesItsPool() throws {
        let given = try request(#"{"Name":"web_1.a-b","IPAM":{"Config":[{"Subnet":"10.1.0.0/16","IPRange":"10.1.4.0/22","Gateway":"10.1.0.9"}]},"Internal":true}"#)
        try given.validate()
        let pool = try #require(given.ipv4Config)
        #expect(pool.subnet.description == "10.1.0.0/16" && pool.ipRange?.description == "10.1.4.0/22")
        #expect(pool.gateway.map(IPv4Subnet.format) == "10.1.0.9" && given.isInternal)
        #expect(try request(#"{"Name":"x"}"#).ipv4Config == nil)
    }

    @Test func subnetsOverlapWhenOneHoldsTheOther() throws {
        let a = try #require(IPv4Subnet(cidr: "10.1.0.0/16"))
        #expect(a.overlaps(try #require(IPv4Subnet(cidr: "10.1.200.0/24"))))
        #expect(a.overlaps(try #require(IPv4Subnet(cidr: "10.0.0.0/8"))))
        #expect(!a.overlaps(try #require(IPv4Subnet(cidr: "10.2.0.0/16"))))
        #expect(a.contains(IPv4Subnet.parseAddress("10.1.255.255")!) && !a.contains(IPv4Subnet.parseAddress("10.2.0.0")!))
        #expect(IPv4Subnet(cidr: "10.1.0.0") == nil && IPv4Subnet(cidr: "10.1.0.0/") == nil && IPv4Subnet(cidr: "1.2.3.256/8") == nil)
        #expect(Engine.defaultPools.count == 31 && Engine.defaultPools.first?.description == "172.17.0.0/16"
                && Engine.defaultPools.last?.description == "192.168.240.0/20")
    }
}

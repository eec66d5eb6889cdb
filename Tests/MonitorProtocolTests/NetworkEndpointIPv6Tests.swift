import MonitorProtocol
import Testing

@Suite struct NetworkEndpointIPv6Tests {
    static func endpoint(ipv6: Bool) -> NetworkEndpoint {
        var e = NetworkEndpoint(interface: "eth0", bridge: "br-0123456789ab", address: "172.18.0.2", prefixLength: 16,
                                gateway: "172.18.0.1", defaultRoute: true)
        if ipv6 { (e.ipv6Address, e.ipv6PrefixLength, e.ipv6Gateway) = ("fd12::2", 64, "fd12::1") }
        return e
    }

    @Test func theMonitorsArgumentCarriesIPv6AndTheOlderFormsStillParse() throws {
        let six = Self.endpoint(ipv6: true)
        var internalSix = six
        internalSix.isInternal = true
        internalSix.names = ["web"]
        let argument = NetworkEndpoint.argument([six, internalSix, Self.endpoint(ipv6: false)])
        #expect(argument.contains(",ip6=fd12::2/64@fd12::1"))
        #expect(NetworkEndpoint.parse(argument: argument) == [six, internalSix, Self.endpoint(ipv6: false)])
        #expect(NetworkEndpoint.parse(argument: "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1")?.first?.ipv6Address == "")
        #expect(NetworkEndpoint.parse(argument: "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,ip6=fd12::2@fd12::1") == nil)
        #expect(NetworkEndpoint.parse(argument: "eth0,br-x,172.18.0.2/16,172.18.0.1,1500,1,ip6=fd12::2/200@fd12::1") == nil)
    }

    @Test func theKeepersAttachRequestAddsTwoTokensAtItsEnd() {
        #expect(Self.endpoint(ipv6: true).attachRequest
                == "attach br-0123456789ab 172.18.0.1 16 1500 eth0 172.18.0.2 02:42:ac:12:00:02 1 0 - - fd12::2/64 fd12::1")
        #expect(Self.endpoint(ipv6: false).attachRequest
                == "attach br-0123456789ab 172.18.0.1 16 1500 eth0 172.18.0.2 02:42:ac:12:00:02 1")
    }

    @Test func linksAndMACAndIPv6TogetherGoInTheirOrder() {
        var e = Self.endpoint(ipv6: true)
        e.names = ["web"]
        e.links = ["db=postgres"]
        e.mac = "02:00:00:00:00:01"
        #expect(e.attachRequest.hasSuffix(" 1 0 web - db=postgres fd12::2/64 fd12::1"))
        let argument = NetworkEndpoint.argument([e])
        #expect(argument.hasSuffix(",web,,links=db=postgres,mac=02:00:00:00:00:01,ip6=fd12::2/64@fd12::1"))
        #expect(NetworkEndpoint.parse(argument: argument) == [e])
        // The trailing fields in another order parse the same.
        #expect(NetworkEndpoint.parse(argument: "eth0,br-0123456789ab,172.18.0.2/16,172.18.0.1,1500,1,web,,ip6=fd12::2/64@fd12::1,mac=02:00:00:00:00:01,links=db=postgres") == [e])
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Platform
import Testing
@testable import APIServer

/// `POST /networks/{id}/connect` and `/disconnect`: the body read as Go reads it, and how a
/// running container's interface is found (docs/networking.md, "Connect and disconnect").
@Suite struct NetworkConnectTests {
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

    @Test func readsTheBodyAsGoDoes() throws {
        let empty = try NetworkConnectRequest.decode([], disconnect: false)
        #expect(empty.container == "" && empty.endpoint == EndpointSettingsRequest() && !empty.force)
        let connect = try NetworkConnectRequest.decode(Array(#"{"container":"c1","Bogus":1,"EndpointConfig":{"Aliases":["a"],"IPAMConfig":{"IPv4Address":"10.0.0.5"}}}"#.utf8),
                                                       disconnect: false)
        #expect(connect.container == "c1" && connect.endpoint.aliases == ["a"] && connect.endpoint.ipv4Address == "10.0.0.5")
        let disconnect = try NetworkConnectRequest.decode(Array(#"{"Container":"c2","Force":true}"#.utf8), disconnect: true)
        #expect(disconnect.container == "c2" && disconnect.force)
        #expect(message { try NetworkConnectRequest.decode(Array(#"{"Container":5}"#.utf8), disconnect: false) }
            == "invalidArgument invalid JSON: json: cannot unmarshal number 5 into Go struct field NetworkConnect.Container of type string")
        #expect(message { try NetworkConnectRequest.decode(Array(#"{"Force":"yes"}"#.utf8), disconnect: true) }
            == "invalidArgument invalid JSON: json: cannot unmarshal string into Go struct field NetworkDisconnect.Force of type bool")
        #expect(message { try NetworkConnectRequest.decode(Array("[]".utf8), disconnect: true) }
            == "invalidArgument invalid JSON: json: cannot unmarshal array into Go value of type types.NetworkDisconnect")
        #expect(message { try NetworkConnectRequest.decode(Array("{".utf8), disconnect: false) }?.hasPrefix("invalidArgument invalid JSON: ") == true)
    }

    @Test func findsTheInterfacesAndTheRouteOfASubnetInProc() throws {
        let own = LiveEndpoints(pid: getpid(), runtimeRoot: "/nonexistent", containerName: "self")
        #expect(try own.interfaces().contains("lo"))
        // Every route of this process's namespace is found by its destination and mask.
        let routes = String(decoding: try FileSystem.readFile("/proc/self/net/route"), as: UTF8.self)
        for line in routes.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 8, let d = UInt32(f[1], radix: 16), let m = UInt32(f[7], radix: 16), d != 0 else { continue }
            // The file shows network-order words as hex of a native (here little-endian) word.
            let subnet = IPv4Subnet(address: UInt32(bigEndian: d.littleEndian), prefixLength: m.nonzeroBitCount)
            #expect(try own.interface(routing: subnet) != nil)
        }
        #expect(try own.interface(routing: IPv4Subnet(cidr: "10.254.253.0/24")!) == nil)
    }
}

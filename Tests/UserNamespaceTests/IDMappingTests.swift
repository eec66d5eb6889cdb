import Testing
@testable import UserNamespace

struct IDMappingTests {
    static let subuid = """
        # comment
        alice:100000:65536
        1001:300000:1000
        bob:165536:65536
        alice:200000:10
        broken line
        alice:x:5
        alice:5:0
        """

    @Test func findsRangesByNameAndByUID() {
        let ids = SubordinateIDs.parse(Self.subuid, user: "alice", id: 1001)
        #expect(ids.ranges == [.init(start: 100000, count: 65536), .init(start: 300000, count: 1000),
                               .init(start: 200000, count: 10)])
    }

    @Test func buildsTheRootlessMap() {
        let ids = SubordinateIDs.parse(Self.subuid, user: "alice", id: 1001)
        let maps = ids.mappings(hostID: 1001)
        #expect(maps == [
            IDMapping(containerID: 0, hostID: 1001, size: 1),
            IDMapping(containerID: 1, hostID: 100000, size: 65536),
            IDMapping(containerID: 65537, hostID: 300000, size: 1000),
            IDMapping(containerID: 66537, hostID: 200000, size: 10),
        ])
        #expect(maps.helperArguments.prefix(6) == ["0", "1001", "1", "1", "100000", "65536"])
        #expect(maps.hostID(for: 0) == 1001)
        #expect(maps.hostID(for: 1000) == 100999)
        #expect(maps.hostID(for: 66540) == 200003)
        #expect(maps.hostID(for: 70000) == nil)
    }

    @Test func withoutRangesOnlyTheOwnID() {
        let ids = SubordinateIDs.parse(Self.subuid, user: "carol", id: 1002)
        #expect(ids.ranges.isEmpty)
        #expect(ids.mappings(hostID: 1002) == [IDMapping(containerID: 0, hostID: 1002, size: 1)])
        #expect(ids.mappings(hostID: 1002).procText == "0 1002 1\n")
    }
}

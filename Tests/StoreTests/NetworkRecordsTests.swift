import Testing
@testable import Store

private func hex(_ seed: String) -> String {
    var s = ""
    while s.count < 64 { s += seed }
    return String(s.prefix(64))
}

/// Network rows (migration 13): names unique with moby's message, a network with endpoints kept
/// with moby's message, endpoints going with their container, one per container and address.
@Suite struct NetworkRecordsTests {
    private func store() throws -> (TempDir, Store) {
        let dir = TempDir()
        let store = try Store(root: dir.path + "/skiff")
        try store.database.query("INSERT INTO images (id, created, size, config) VALUES (?, 1, 0, x'7b7d')", [.text("sha256:" + hex("e0"))])
        for (seed, name) in [("ab", "one"), ("cd", "two")] {
            try store.addContainer(ContainerRecord(id: hex(seed), name: name, imageID: "sha256:" + hex("e0"), imageName: "busybox",
                                                   created: 1, state: .created, config: Array("{}".utf8)))
        }
        return (dir, store)
    }

    private func network(_ name: String, _ seed: String) -> NetworkRecord {
        NetworkRecord(id: hex(seed), name: name, created: 5, driver: "bridge", subnet: "10.1.0.0/16", gateway: "10.1.0.1",
                      ipRange: "10.1.2.0/24", isInternal: true, labels: ["a": "b"], options: ["o": "p"])
    }

    @Test func aNetworkIsKeptAsGivenAndItsNameOnce() throws {
        let (dir, store) = try store()
        _ = dir
        let made = try store.addNetwork { existing in
            #expect(existing.isEmpty)
            return network("front", "11")
        }
        #expect(try store.network(id: hex("11")) == made && store.networks() == [made])
        do {
            try store.addNetwork { _ in network("front", "22") }
            Issue.record("a second network named front was added")
        } catch let error as StoreError {
            #expect(error.code == .exists && error.message == "network with name front already exists")
        }
        #expect(try store.networks().count == 1)
    }

    @Test func endpointsKeepTheNetworkAndGoWithTheirContainer() throws {
        let (dir, store) = try store()
        _ = dir
        try store.addNetwork { _ in network("front", "11") }
        let endpoint = try store.addEndpoint(networkID: hex("11"), containerID: hex("ab"), aliases: ["web"], isStatic: true) { existing in
            #expect(existing.isEmpty)
            return "10.1.2.7/16"
        }
        #expect(try store.endpoints(onNetwork: hex("11")) == [endpoint] && store.endpoints(ofContainer: hex("ab")) == [endpoint])
        #expect(try store.endpointCounts() == [hex("11"): 1])
        do {
            try store.addEndpoint(networkID: hex("11"), containerID: hex("ab"), aliases: [], isStatic: false) { _ in "10.1.2.8/16" }
            Issue.record("connected twice")
        } catch let error as StoreError {
            #expect(error.code == .exists)
        }
        do {
            try store.addEndpoint(networkID: hex("11"), containerID: hex("cd"), aliases: [], isStatic: false) { _ in "10.1.2.7/16" }
            Issue.record("one address given twice")
        } catch let error as StoreError {
            #expect(error.code == .exists)
        }
        do {
            try store.deleteNetwork(id: hex("11"))
            Issue.record("removed with an endpoint")
        } catch let error as StoreError {
            #expect(error.code == .invalidState
                    && error.message == "error while removing network: network front id \(hex("11")) has active endpoints")
        }
        try store.database.query("DELETE FROM containers WHERE id = ?", [.text(hex("ab"))])
        #expect(try store.endpoints(onNetwork: hex("11")).isEmpty)
        try store.deleteNetwork(id: hex("11"))
        #expect(try store.networks().isEmpty)
        do {
            try store.deleteNetwork(id: hex("11"))
            Issue.record("removed twice")
        } catch let error as StoreError {
            #expect(error.code == .notFound)
        }
    }
}

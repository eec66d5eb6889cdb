import Testing
@testable import Store

private func hex(_ seed: String) -> String {
    var s = ""
    while s.count < 64 { s += seed }
    return String(s.prefix(64))
}

/// Volume rows (migration 12): driver options kept as given, the first-container copy-up claim,
/// and moby's in-use refusal naming every container.
@Suite struct VolumeRecordsTests {
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

    @Test func optionsAreKeptAsGivenAndNilForAContainersVolume() throws {
        let (dir, store) = try store()
        _ = dir
        try store.ensureVolume(name: "opts", options: ["type": "tmpfs", "device": "tmpfs"], created: 1)
        try store.ensureVolume(name: "empty", options: [:], created: 1)
        try store.ensureVolume(name: "implicit", created: 1)
        #expect(try store.volume(name: "opts")?.options == ["device": "tmpfs", "type": "tmpfs"])
        #expect(try store.volume(name: "empty")?.options == [:])
        #expect(try store.volume(name: "implicit")?.options == nil)
    }

    @Test func theCopyUpIsTakenOnceEvenAfterTheFirstContainerWent() throws {
        let (dir, store) = try store()
        _ = dir
        try store.ensureVolume(name: "data", created: 1)
        #expect(try store.volume(name: "data")?.copyUp == true)
        try store.linkVolume("data", to: hex("ab"))
        #expect(try store.claimCopyUp("data"))
        #expect(try !store.claimCopyUp("data"))
        try store.deleteContainer(hex("ab"))
        try store.linkVolume("data", to: hex("cd"))
        #expect(try !store.claimCopyUp("data"))
        #expect(try store.volume(name: "data")?.copyUp == false)
    }

    @Test func removalNamesEveryUserAndCountsReferences() throws {
        let (dir, store) = try store()
        _ = dir
        try store.ensureVolume(name: "shared", created: 1)
        try store.ensureVolume(name: "free", created: 1)
        try store.linkVolume("shared", to: hex("cd"))
        try store.linkVolume("shared", to: hex("ab"))
        #expect(try store.volumeReferenceCounts() == ["shared": 2])
        do {
            try store.deleteVolume(name: "shared")
            Issue.record("removed a volume in use")
        } catch let error as StoreError {
            #expect(error.code == .invalidState)
            #expect(error.message == "remove shared: volume is in use - [\(hex("ab")), \(hex("cd"))]")
        }
        do {
            try store.deleteVolume(name: "nope")
            Issue.record("removed a volume that does not exist")
        } catch let error as StoreError {
            #expect(error.code == .notFound)
            #expect(error.message == "get nope: no such volume")
        }
        try store.deleteVolume(name: "free")
        #expect(try store.volumes().map(\.name) == ["shared"])
    }
}

import Testing
@testable import Store

private func hex(_ seed: String) -> String {
    var s = ""
    while s.count < 64 { s += seed }
    return String(s.prefix(64))
}

private final class Fixture {
    let dir = TempDir()
    let store: Store
    let image = "sha256:" + hex("e0")

    init() throws {
        store = try Store(root: dir.path + "/skiff")
        try store.database.query("INSERT INTO images (id, created, size, config) VALUES (?, 1, 0, x'7b7d')", [.text(image)])
    }

    func record(_ seed: String, name: String, created: Int64 = 1) -> ContainerRecord {
        ContainerRecord(id: hex(seed), name: name, imageID: image, imageName: "busybox", created: created,
                        state: .created, config: Array("{}".utf8))
    }
}

@Suite struct ContainerRecordsTests {
    @Test func addResolveAndOrder() throws {
        let f = try Fixture()
        try f.store.addContainer(f.record("ab", name: "first", created: 1))
        try f.store.addContainer(f.record("ac", name: "second", created: 2))
        #expect(try f.store.containers().map(\.name) == ["second", "first"])
        #expect(try f.store.resolveContainer("first").id == hex("ab"))
        #expect(try f.store.resolveContainer("/second").id == hex("ac"))
        #expect(try f.store.resolveContainer("aba").id == hex("ab"))
        #expect(try f.store.resolveContainer(hex("ac")).name == "second")
        #expect(throws: StoreError.self) { try f.store.resolveContainer("a") }
        do {
            _ = try f.store.resolveContainer("nope")
            Issue.record("resolved a name that does not exist")
        } catch let error as StoreError {
            #expect(error.code == .notFound)
            #expect(error.message == "No such container: nope")
        }
    }

    @Test func nameInUseIsAConflictWithDockersMessage() throws {
        let f = try Fixture()
        try f.store.addContainer(f.record("ab", name: "web"))
        do {
            try f.store.addContainer(f.record("cd", name: "web"))
            Issue.record("a second container took the name")
        } catch let error as StoreError {
            #expect(error.code == .exists)
            #expect(error.message.hasPrefix("Conflict. The container name \"/web\" is already in use by container \"\(hex("ab"))\""))
        }
        #expect(try f.store.containers().count == 1)
    }

    @Test func updateKeepsNamesUniqueAndDeleteRemoves() throws {
        let f = try Fixture()
        try f.store.addContainer(f.record("ab", name: "one"))
        try f.store.addContainer(f.record("cd", name: "two"))
        let updated = try f.store.updateContainer(hex("ab")) { r in
            r.state = .running
            r.pid = 42
            r.monitorStartTime = 123_456
            r.startedAt = "2026-11-29T10:00:00.000000001Z"
        }
        #expect(try f.store.container(id: hex("ab")) == updated)
        #expect(throws: StoreError.self) { try f.store.updateContainer(hex("ab")) { $0.name = "two" } }
        try f.store.updateContainer(hex("ab")) { $0.name = "renamed" }
        #expect(try f.store.resolveContainer("renamed").pid == 42)
        #expect(try f.store.deleteContainer(hex("ab")))
        #expect(try !f.store.deleteContainer(hex("ab")))
        #expect(throws: StoreError.self) { try f.store.updateContainer(hex("ab")) { $0.pid = 1 } }
    }

    @Test func eventsInOrderWithTimeBounds() throws {
        let f = try Fixture()
        try f.store.addEvent(type: "container", action: "create", actorID: "x", attributes: ["name": "a", "image": "b"], timeNano: 100)
        let second = try f.store.addEvent(type: "container", action: "start", actorID: "x", timeNano: 200)
        #expect(try f.store.lastEventSeq() == second)
        let all = try f.store.events()
        #expect(all.map(\.action) == ["create", "start"])
        #expect(all[0].attributes.map(\.0) == ["image", "name"])
        #expect(try f.store.events(since: 150).map(\.action) == ["start"])
        #expect(try f.store.events(until: 150).map(\.action) == ["create"])
        #expect(try f.store.events(after: all[0].seq).map(\.action) == ["start"])
    }

    @Test func volumesInUseCannotGo() throws {
        let f = try Fixture()
        try f.store.addContainer(f.record("ab", name: "one"))
        let (_, created) = try f.store.ensureVolume(name: "data", labels: ["a": "b"], created: 5)
        #expect(created)
        #expect(try !f.store.ensureVolume(name: "data", created: 6).1)
        try f.store.linkVolume("data", to: hex("ab"))
        #expect(try f.store.volumes(of: hex("ab")).map(\.name) == ["data"])
        #expect(throws: StoreError.self) { try f.store.deleteVolume(name: "data") }
        try f.store.deleteContainer(hex("ab"))
        try f.store.deleteVolume(name: "data")
        #expect(try f.store.volumes().isEmpty)
    }
}

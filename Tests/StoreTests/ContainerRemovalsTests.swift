import Testing
@testable import Store

private func hex(_ seed: String) -> String {
    var s = ""
    while s.count < 64 { s += seed }
    return String(s.prefix(64))
}

@Suite struct ContainerRemovalsTests {
    let dir = TempDir()
    let store: Store

    init() throws {
        store = try Store(root: dir.path + "/skiff")
        try store.database.query("INSERT INTO images (id, created, size, config) VALUES (?, 1, 0, x'7b7d')",
                                 [.text("sha256:" + hex("e0"))])
        try store.addContainer(ContainerRecord(id: hex("ab"), name: "web", imageID: "sha256:" + hex("e0"),
                                               imageName: "busybox", created: 1, state: .exited, config: Array("{}".utf8)))
    }

    @Test func markingRecordsTheRemoverAndTheNextMarkSeesIt() throws {
        let first = ContainerRemover(pid: 4242, startTime: 17)
        var seen: [ContainerRemover?] = []
        let before = try store.markRemoving(hex("ab"), by: first) { row, current in
            #expect(row.state == .exited)
            seen.append(current)
        }
        #expect(before.state == .exited)
        #expect(try store.container(id: hex("ab"))?.state == .removing)
        #expect(try store.containerRemover(hex("ab")) == first)

        // The next removal sees who marked it, and takes it over.
        let second = ContainerRemover(pid: 99, startTime: 3)
        try store.markRemoving(hex("ab"), by: second) { row, current in
            #expect(row.state == .removing)
            seen.append(current)
        }
        #expect(seen == [nil, first])
        #expect(try store.containerRemover(hex("ab")) == second)
    }

    @Test func aRefusalChangesNothing() throws {
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try store.markRemoving(hex("ab"), by: ContainerRemover(pid: 1, startTime: 1)) { _, _ in throw Refused() }
        }
        #expect(try store.container(id: hex("ab"))?.state == .exited)
        #expect(try store.containerRemover(hex("ab")) == nil)
    }

    @Test func aRemovingRowWithoutARemoverIsSeenAsNone() throws {
        // A row an older Skiff marked: no remover recorded.
        try store.updateContainer(hex("ab")) { $0.state = .removing }
        var seen: ContainerRemover?? = .none
        try store.markRemoving(hex("ab"), by: ContainerRemover(pid: 5, startTime: 6)) { _, current in seen = .some(current) }
        #expect(seen == .some(nil))
    }

    @Test func otherChangesOfTheRowKeepTheRemover() throws {
        let remover = ContainerRemover(pid: 5, startTime: 6)
        try store.markRemoving(hex("ab"), by: remover) { _, _ in }
        try store.updateContainer(hex("ab")) { $0.error = "cut short" }
        #expect(try store.containerRemover(hex("ab")) == remover)
        #expect(try store.container(id: hex("ab"))?.state == .removing)
    }

    @Test func aMissingContainerIsNotFound() throws {
        do {
            try store.markRemoving(hex("cd"), by: ContainerRemover(pid: 5, startTime: 6)) { _, _ in }
            Issue.record("marked a container that does not exist")
        } catch let error as StoreError {
            #expect(error.code == .notFound)
            #expect(error.message == "No such container: \(hex("cd"))")
        }
    }
}

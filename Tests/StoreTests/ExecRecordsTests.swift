import Testing
@testable import Store

private func hex(_ seed: String) -> String {
    var s = ""
    while s.count < 64 { s += seed }
    return String(s.prefix(64))
}

@Suite struct ExecRecordsTests {
    private func store() throws -> (TempDir, Store, String) {
        let dir = TempDir()
        let store = try Store(root: dir.path + "/skiff")
        let image = "sha256:" + hex("e0")
        try store.database.query("INSERT INTO images (id, created, size, config) VALUES (?, 1, 0, x'7b7d')", [.text(image)])
        let container = ContainerRecord(id: hex("c1"), name: "c", imageID: image, imageName: "busybox", created: 1,
                                        state: .running, config: Array("{}".utf8))
        try store.addContainer(container)
        return (dir, store, container.id)
    }

    @Test func addUpdateAndReadBack() throws {
        let (dir, store, container) = try store()
        _ = dir
        let record = ExecRecord(id: hex("e1"), containerID: container, created: 42, config: Array(#"{"Cmd":["true"]}"#.utf8))
        try store.addExec(record)
        #expect(try store.exec(id: hex("e1")) == record)
        #expect(try store.exec(id: hex("e1"))?.exitCode == nil)
        let updated = try store.updateExec(hex("e1")) { r in
            r.state = .exited
            r.exitCode = 127
            r.pid = 0
            r.supervisorPID = 99
            r.supervisorStartTime = UInt64.max
            r.finished = 77
        }
        #expect(try store.exec(id: hex("e1")) == updated)
        #expect(updated.exitCode == 127 && updated.supervisorStartTime == UInt64.max)
        #expect(try store.execs(containerID: container).map(\.id) == [hex("e1")])
    }

    @Test func aMissingExecIsNotFoundWithDockersWords() throws {
        let (dir, store, _) = try store()
        _ = dir
        do {
            try store.updateExec(hex("ee")) { $0.state = .running }
            Issue.record("updated an exec that does not exist")
        } catch let error as StoreError {
            #expect(error.code == .notFound)
            #expect(error.message == "No such exec instance: \(hex("ee"))")
        }
    }

    @Test func execsGoWithTheirContainer() throws {
        let (dir, store, container) = try store()
        _ = dir
        try store.addExec(ExecRecord(id: hex("e1"), containerID: container, created: 1, config: []))
        try store.addExec(ExecRecord(id: hex("e2"), containerID: container, created: 2, config: []))
        #expect(try store.deleteExec(id: hex("e1")))
        #expect(try !store.deleteExec(id: hex("e1")))
        #expect(try store.deleteContainer(container))
        #expect(try store.exec(id: hex("e2")) == nil)
    }
}

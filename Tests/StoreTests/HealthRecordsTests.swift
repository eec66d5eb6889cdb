import Testing
@testable import Store

@Suite struct HealthRecordsTests {
    static let id = String(repeating: "cd", count: 32)

    static func store(_ dir: TempDir) throws -> Store {
        let store = try Store(root: dir.path + "/skiff")
        let image = "sha256:" + String(repeating: "e0", count: 32)
        try store.database.query("INSERT INTO images (id, created, size, config) VALUES (?, 1, 0, x'7b7d')", [.text(image)])
        try store.addContainer(ContainerRecord(id: id, name: "h", imageID: image, imageName: "busybox", created: 1,
                                               state: .running, config: Array("{}".utf8)))
        return store
    }

    static func result(_ n: Int) -> HealthResult {
        HealthResult(start: "2026-01-01T00:00:0\(n)Z", end: "2026-01-01T00:00:0\(n).5Z", exitCode: n, output: "out \(n)\n")
    }

    @Test func noneUntilWrittenThenUpdatedInPlace() throws {
        let dir = TempDir()
        let store = try Self.store(dir)
        #expect(try store.health(of: Self.id) == nil)
        #expect(try store.healthStatuses() == [:])
        let first = try store.updateHealth(Self.id) { current, container in
            #expect(current == nil && container.state == .running)
            return HealthRecord(status: "starting")
        }
        #expect(first?.before == nil && first?.after == "starting")
        let second = try store.updateHealth(Self.id) { current, _ in
            HealthRecord(status: "unhealthy", failingStreak: 3, log: [Self.result(1)])
        }
        #expect(second?.before == "starting" && second?.after == "unhealthy")
        #expect(try store.health(of: Self.id) == HealthRecord(status: "unhealthy", failingStreak: 3, log: [Self.result(1)]))
        #expect(try store.healthStatuses() == [Self.id: "unhealthy"])
        // nil leaves it as it is.
        let same = try store.updateHealth(Self.id) { _, _ in nil }
        #expect(same?.before == "unhealthy" && same?.after == "unhealthy")
        // A missing container: nil, nothing written.
        #expect(try store.updateHealth(String(repeating: "0", count: 64)) { _, _ in HealthRecord(status: "healthy") } == nil)
    }

    @Test func keepsTheLastFiveAndGoesWithTheContainer() throws {
        let dir = TempDir()
        let store = try Self.store(dir)
        try store.updateHealth(Self.id) { _, _ in
            HealthRecord(status: "healthy", log: (1...7).map(Self.result))
        }
        #expect(try store.health(of: Self.id)?.log == (3...7).map(Self.result))
        #expect(try store.deleteContainer(Self.id))
        #expect(try store.health(of: Self.id) == nil)
    }

    @Test func rendersDockersHealthObject() {
        let record = HealthRecord(status: "healthy", failingStreak: 0, log: [Self.result(0)])
        #expect(record.json.text == #"{"Status":"healthy","FailingStreak":0,"Log":[{"Start":"2026-01-01T00:00:00Z","End":"2026-01-01T00:00:00.5Z","ExitCode":0,"Output":"out 0\n"}]}"#)
    }
}

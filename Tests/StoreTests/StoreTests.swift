import Testing
@testable import Store

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory per test, removed afterwards.
final class TempDir {
    let path: String
    init() {
        var template = Array("/tmp/skiff-store-test.XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }
    deinit { _ = system("rm -rf '\(path)'") }
}

struct MigrationTests {
    @Test func migratesAnEmptyFileToTheLatestVersion() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        #expect(try db.schemaVersion() == 0)
        let result = try db.migrate()
        #expect(result.from == 0)
        #expect(result.to == Migration.latestVersion)
        #expect(try db.schemaVersion() == Migration.latestVersion)
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .compactMap { $0.text(0) }
        #expect(tables == ["container_volumes", "containers", "engine", "events", "execs", "image_layers", "image_names", "images", "layer_blobs", "layers", "network_endpoints", "networks", "repo_digests", "sqlite_sequence", "volumes"])
        // Migrating again is a no-op.
        #expect(try db.migrate() == (Migration.latestVersion, Migration.latestVersion))
    }

    @Test(arguments: 1..<Migration.latestVersion)
    func migratesFromEachPreviousVersionKeepingData(_ from: Int) throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.migrate(to: from)
        #expect(try db.schemaVersion() == from)
        try db.query("INSERT INTO images (id, created, config) VALUES ('sha256:a', 1, x'7b7d')")
        try db.query("INSERT INTO image_names (name, image_id) VALUES ('localhost/a:latest', 'sha256:a')")
        let result = try db.migrate()
        #expect(result == (from, Migration.latestVersion))
        #expect(try db.queryScalarText("SELECT image_id FROM image_names WHERE name = 'localhost/a:latest'") == "sha256:a")
    }

    @Test func refusesAFileNewerThanThisProgram() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.execute("PRAGMA user_version = \(Migration.latestVersion + 1)")
        do {
            try db.migrate()
            Issue.record("migrated a newer file")
        } catch let error as StoreError {
            #expect(error.code == .corrupt)
            #expect(error.message.hasSuffix("schema version \(Migration.latestVersion + 1) is newer than this skiff understands (\(Migration.latestVersion)); upgrade skiff"))
        }
        #expect(try db.schemaVersion() == Migration.latestVersion + 1)
    }

    @Test func aFailingMigrationLeavesTheFileAsItWas() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        let broken = [
            Migration(version: 1, summary: "good", sql: "CREATE TABLE a (x INTEGER) STRICT;"),
            Migration(version: 2, summary: "bad", sql: "CREATE TABLE b (x INTEGER) STRICT; INSERT INTO nope VALUES (1);"),
        ]
        do {
            try db.migrate(migrations: broken)
            Issue.record("a broken migration succeeded")
        } catch let error as StoreError {
            #expect(error.code == .io)
            #expect(error.message.hasPrefix("migration 2 (bad): "))
            #expect(error.message.hasSuffix("no such table: nope"))
        }
        #expect(try db.schemaVersion() == 0)
        #expect(try db.query("SELECT name FROM sqlite_master WHERE type = 'table'").isEmpty)
    }
}

struct DatabaseTests {
    @Test func connectionSettings() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        #expect(try db.queryScalarText("PRAGMA journal_mode") == "wal")
        #expect(try db.queryScalarInt("PRAGMA foreign_keys") == 1)
        #expect(try db.queryScalarInt("PRAGMA busy_timeout") == Int64(Database.defaultBusyTimeout))
        #expect(try db.queryScalarInt("PRAGMA synchronous") == 1)   // NORMAL
    }

    @Test func aTransactionThatFailsHalfWayLeavesNothing() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.migrate()
        // Second statement violates the foreign key: the first must be rolled back with it.
        do {
            try db.transaction {
                try db.query("INSERT INTO images (id, created, config) VALUES ('sha256:a', 1, x'7b7d')")
                try db.query("INSERT INTO containers (id, name, image_id, created, state, config) VALUES ('c1', 'web', 'sha256:missing', 1, 'created', x'7b7d')")
            }
            Issue.record("a foreign key violation was accepted")
        } catch let error as StoreError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("FOREIGN KEY constraint failed"))
        }
        #expect(try db.queryScalarInt("SELECT count(*) FROM images") == 0)

        // A Swift error half-way rolls back too.
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try db.transaction {
                try db.query("INSERT INTO images (id, created, config) VALUES ('sha256:b', 1, x'7b7d')")
                throw Interrupted()
            }
        }
        #expect(try db.queryScalarInt("SELECT count(*) FROM images") == 0)
    }

    @Test func duplicateNamesAreReportedAsExists() throws {
        let dir = TempDir()
        let store = try Store(root: dir.path + "/skiff")
        try store.database.query("INSERT INTO images (id, created, config) VALUES ('sha256:a', 1, x'7b7d')")
        try store.database.query("INSERT INTO containers (id, name, image_id, created, state, config) VALUES ('c1', 'web', 'sha256:a', 1, 'running', x'7b7d')")
        do {
            try store.database.query("INSERT INTO containers (id, name, image_id, created, state, config) VALUES ('c2', 'web', 'sha256:a', 1, 'created', x'7b7d')")
            Issue.record("a duplicate name was accepted")
        } catch let error as StoreError {
            #expect(error.code == .exists)
            #expect(error.message.contains("UNIQUE constraint failed: containers.name"))
        }
        #expect(try store.containerCounts() == (1, 1, 0, 0))
        #expect(try store.imageCount() == 1)
    }

    @Test func storeCreatesItsDirectoryPrivateAndKeepsItsIdentity() throws {
        let dir = TempDir()
        let root = dir.path + "/a/b/skiff"
        let first = try Store(root: root)
        var info = stat()
        #expect(stat(root, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
        let id = try first.engineID()
        #expect(id.count == 36)
        #expect(try Store(root: root).engineID() == id)
    }

    /// The service and the monitors are separate processes: both must get their writes in.
    @Test func twoProcessesWritingAtOnceBothSucceed() throws {
        let dir = TempDir()
        let path = dir.path + "/skiff.db"   // does not exist yet: both processes create it
        let writer = executableDirectory() + "/StoreWriter"
        let a = try spawn([writer, path, "a", "300"])
        let b = try spawn([writer, path, "b", "300"])
        #expect(wait(a) == 0)
        #expect(wait(b) == 0)
        let db = try Database(path: path)
        #expect(try db.queryScalarInt("SELECT count(*) FROM images") == 600)
        #expect(try db.queryScalarInt("SELECT count(*) FROM image_names") == 600)
        #expect(try db.schemaVersion() == Migration.latestVersion)
    }

    private func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = String(decoding: buffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)])
    }

    private func spawn(_ argv: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let rc = posix_spawn(&pid, argv[0], nil, nil, &cArgs, environ)
        guard rc == 0 else { throw StoreError(.io, "spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    private func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

import Foundation
import Testing
@testable import Store

/// `Store.changeToken` (`WALIndexWatch`): it changes with every commit of any connection and
/// with nothing else.
struct ChangeTokenTests {
    @Test func aReadLeavesTheTokenAsItWasAndEveryCommitChangesIt() throws {
        let dir = TempDir()
        let writer = try Store(root: dir.path)
        let reader = try Store(root: dir.path, readOnly: true)
        let first = try #require(reader.changeToken())
        _ = try reader.database.query("SELECT count(*) FROM containers")
        _ = try writer.database.query("SELECT count(*) FROM images")
        #expect(reader.changeToken() == first)

        try writer.database.execute("INSERT INTO engine (singleton, id, created) VALUES (1, 'x', 0)")
        let second = try #require(reader.changeToken())
        #expect(second != first)
        // The writer's own connection sees the same header.
        #expect(writer.changeToken() == second)

        // A write on a third connection (as another process's would be) changes it too.
        let other = try Database(path: dir.path + "/" + Store.databaseName)
        try other.execute("UPDATE engine SET id = 'y' WHERE singleton = 1")
        let third = try #require(reader.changeToken())
        #expect(third != second)
        #expect(try reader.database.queryScalarText("SELECT id FROM engine") == "y")
        // A statement that changes nothing commits nothing: the token stays (what was read is
        // still the database's).
        try other.execute("UPDATE engine SET id = 'y' WHERE singleton = 2")
        #expect(reader.changeToken() == third)
    }

    @Test func aCheckpointThatRestartsTheWALStillChangesTheToken() throws {
        let dir = TempDir()
        let writer = try Store(root: dir.path)
        let reader = try Store(root: dir.path, readOnly: true)
        try writer.database.execute("INSERT INTO engine (singleton, id, created) VALUES (1, 'a', 0)")
        let before = try #require(reader.changeToken())
        // A full checkpoint and a restart: the next commit writes the WAL from its start again,
        // as many frames as the one before it.
        try writer.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try writer.database.execute("UPDATE engine SET id = 'b' WHERE singleton = 1")
        let after = try #require(reader.changeToken())
        #expect(after != before)
        #expect(try reader.database.queryScalarText("SELECT id FROM engine") == "b")
    }

    @Test func aConnectionHasItsWALIndexOnceItHasRead() throws {
        let dir = TempDir()
        _ = try Store(root: dir.path)
        let fresh = try Database(path: dir.path + "/" + Store.databaseName)
        _ = try fresh.schemaVersion()
        #expect(WALIndexWatch(fresh) != nil)
    }

    /// Reading the token takes no lock and opens nothing: the process keeps every POSIX lock
    /// SQLite holds on the WAL-index (its dead-man switch among them), so another process that
    /// opens the database meanwhile does not take itself for the first and truncate the file
    /// under this one's mappings. (Opening and closing the -shm file here once dropped them: the
    /// service died of SIGBUS under load.)
    @Test func readingTheTokenLeavesTheProcesssLocksOnTheWALIndexInPlace() throws {
        let dir = TempDir()
        let store = try Store(root: dir.path)
        _ = try store.database.schemaVersion()
        let before = try locks(on: dir.path + "/" + Store.databaseName + "-shm")
        #expect(!before.isEmpty)
        for _ in 0..<3 { _ = try #require(store.changeToken()) }
        #expect(try locks(on: dir.path + "/" + Store.databaseName + "-shm") == before)
    }

    /// This process's POSIX locks on `path` (/proc/locks: type, start and end of each).
    private func locks(on path: String) throws -> [String] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        let text = try String(contentsOfFile: "/proc/locks", encoding: .utf8)
        let pid = String(getpid())
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1: POSIX  ADVISORY  READ 1234 fd:01:5678 128 128"
            guard fields.count >= 8, fields[1] == "POSIX", fields[4] == pid,
                  fields[5].split(separator: ":").last == Substring(String(info.st_ino)) else { return nil }
            return "\(fields[3]) \(fields[6]) \(fields[7])"
        }.sorted()
    }
}

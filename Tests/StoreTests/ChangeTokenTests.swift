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

    @Test func aDatabaseWithoutItsWALIndexHasNoToken() throws {
        let dir = TempDir()
        #expect(WALIndexWatch(path: dir.path + "/missing-shm") == nil)
    }
}

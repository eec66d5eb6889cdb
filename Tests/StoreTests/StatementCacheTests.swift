import Testing
@testable import Store

/// `Database.query`'s statement cache and `withoutWaiting`.
struct StatementCacheTests {
    @Test func aCachedStatementIsBoundAfreshEachTime() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
        try db.query("INSERT INTO t (k, v) VALUES (?, ?)", [.text("a"), .blob([1, 2, 3])])
        try db.query("INSERT INTO t (k, v) VALUES (?, ?)", [.text("b"), .null])
        #expect(try db.query("SELECT v FROM t WHERE k = ?", [.text("a")]).first?.values == [.blob([1, 2, 3])])
        #expect(try db.query("SELECT v FROM t WHERE k = ?", [.text("b")]).first?.values == [.null])
        #expect(try db.query("SELECT v FROM t WHERE k = ?", [.text("c")]).isEmpty)
        // A failed use leaves the statement usable.
        #expect(throws: StoreError.self) { try db.query("SELECT v FROM t WHERE k = ?", []) }
        #expect(try db.queryScalarInt("SELECT count(*) FROM t WHERE k = ?", [.text("a")]) == 1)
    }

    @Test func aCachedStatementSeesAnotherConnectionsSchemaChange() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.execute("CREATE TABLE t (k TEXT)")
        try db.query("INSERT INTO t (k) VALUES ('a')")
        #expect(try db.query("SELECT * FROM t").first?.values.count == 1)
        let other = try Database(path: dir.path + "/skiff.db")
        try other.execute("ALTER TABLE t ADD COLUMN v INTEGER DEFAULT 7")
        #expect(try db.query("SELECT * FROM t").first?.values == [.text("a"), .integer(7)])
    }

    @Test func moreStatementsThanTheCacheHoldsAllAnswer() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        for i in 0..<(Database.statementCacheLimit * 2 + 3) {
            #expect(try db.queryScalarInt("SELECT \(i)") == Int64(i))
        }
    }

    @Test func withoutWaitingGivesUpAtOnceOnAnotherConnectionsLock() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.execute("CREATE TABLE t (k TEXT)")
        let other = try Database(path: dir.path + "/skiff.db")
        try other.execute("BEGIN IMMEDIATE")
        // A read does not wait for the writer (WAL); a write would, so it gives up.
        #expect(try db.withoutWaiting { try db.query("SELECT k FROM t").count } == 0)
        let clock = ContinuousClock()
        let started = clock.now
        let written: Int?? = try db.withoutWaiting { try? db.query("INSERT INTO t (k) VALUES ('x')").count }
        #expect(written == nil)     // nil although the body took the failure with `try?`
        #expect(clock.now - started < .seconds(5))
        try other.execute("ROLLBACK")
        // With the lock released, the same write goes through.
        #expect(try db.withoutWaiting { try db.query("INSERT INTO t (k) VALUES ('y')").count } == 0)
        #expect(try db.queryScalarInt("SELECT count(*) FROM t") == 1)
    }
}

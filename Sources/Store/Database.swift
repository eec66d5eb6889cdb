import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// A connection to one SQLite file: a thin typed wrapper over libsqlite3.
///
/// Settings every connection gets, and why:
/// - `journal_mode=WAL`: the service and every container's monitor open the same file from
///   different processes. In WAL mode a reader never waits for a writer and a writer never
///   waits for readers, so `docker ps` is not blocked by a monitor recording an exit, and a
///   commit appends to the WAL instead of rewriting pages through a rollback journal. The
///   file stays on a local disk (WAL needs shared memory, which network file systems lack).
/// - `synchronous=NORMAL`: in WAL mode a commit survives any crash of the process that made it
///   (and of every other), and the file stays consistent through a power cut; only the last
///   commits before a power cut may be lost, which is when the containers they describe are gone
///   too. FULL made every commit wait for an fdatasync, and a container's start and exit take
///   about seven commits (service and monitor): several milliseconds of each `docker run`.
/// - `foreign_keys=ON`: SQLite leaves it off by default; rows never point at missing rows.
/// - `busy_timeout`: a second writer waits for the lock instead of failing at once.
public final class Database {
    /// Default busy timeout, milliseconds.
    public static let defaultBusyTimeout: Int32 = 30_000

    let handle: OpaquePointer
    public let path: String
    /// How long a statement waits for another connection's lock, milliseconds.
    let busyTimeout: Int32
    /// Prepared statements by their SQL text, reused by `query`: preparing parses the SQL and
    /// plans it, which costs more than running a short query (a `docker ps` of a few containers
    /// runs several). Bounded: emptied when it reaches `statementCacheLimit`.
    private var statements: [String: Statement] = [:]
    static let statementCacheLimit = 64

    /// Opens (creating if needed) the database at `path` and applies the connection settings.
    public init(path: String, busyTimeout: Int32 = Database.defaultBusyTimeout) throws {
        _ = Database.processSettings
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw StoreError(.io, "open \(path): \(message)", sqliteCode: rc)
        }
        self.handle = db
        self.path = path
        self.busyTimeout = busyTimeout
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeout)
        do {
            try setJournalModeWAL()
            try execute("PRAGMA synchronous=NORMAL")
            try execute("PRAGMA foreign_keys=ON")
        } catch {
            sqlite3_close_v2(db)
            throw error
        }
    }

    /// SQLite's settings for the whole process, made before its first connection opens: no
    /// memory statistics (they take a global mutex on every allocation of every statement).
    private static let processSettings: Void = {
        _ = skiff_sqlite_disable_memstatus()
    }()

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Switching a brand-new file to WAL takes an exclusive lock that the busy handler does not
    /// cover: when two processes create the file at the same moment one gets SQLITE_BUSY at
    /// once. Retry for as long as the busy timeout would have waited.
    private func setJournalModeWAL() throws {
        var delayMicros: UInt32 = 1_000
        var waited: UInt32 = 0
        while true {
            do {
                let mode = try queryScalarText("PRAGMA journal_mode=WAL")
                guard mode?.lowercased() == "wal" else {
                    throw StoreError(.io, "\(path): cannot use WAL journal mode (got \(mode ?? "nothing"))")
                }
                return
            } catch let error as StoreError where error.code == .busy && waited < UInt32(Database.defaultBusyTimeout) * 1000 {
                usleep(delayMicros)
                waited += delayMicros
                delayMicros = min(delayMicros * 2, 50_000)
            }
        }
    }

    /// Runs one or more SQL statements that return no rows.
    public func execute(_ sql: String) throws {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            throw Database.error(rc, "\(path): \(message)")
        }
    }

    /// Prepares `sql`, binds `arguments` and runs it to completion; returns the rows.
    @discardableResult
    public func query(_ sql: String, _ arguments: [SQLValue] = []) throws -> [Row] {
        let statement = try prepared(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        return try statement.rows()
    }

    /// The cached statement for `sql`, prepared on first use. A statement is used by one
    /// `query` at a time: `rows()` runs it to the end before anything else can use it.
    private func prepared(_ sql: String) throws -> Statement {
        if let statement = statements[sql] { return statement }
        let statement = try Statement(database: self, sql: sql)
        if statements.count >= Database.statementCacheLimit { statements.removeAll() }
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` and returns the first column of its first row as text.
    public func queryScalarText(_ sql: String, _ arguments: [SQLValue] = []) throws -> String? {
        try query(sql, arguments).first?.text(0)
    }

    /// Runs `sql` and returns the first column of its first row as an integer.
    public func queryScalarInt(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int64? {
        try query(sql, arguments).first?.int(0)
    }

    /// Runs `body` without ever waiting for another connection's lock: where a statement would
    /// wait (the busy timeout), it fails at once instead. Nil when that happened, whether or not
    /// `body` let the failure through (a `try?` in it may have taken it for "not found"): the
    /// caller does the work again where it may wait.
    @inlinable
    public func withoutWaiting<T>(_ body: () throws -> T) throws -> T? {
        try withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1) { buffer in
            let met = buffer.baseAddress!
            met.initialize(to: 0)
            stopWaiting(noting: met)
            defer { resumeWaiting() }
            do {
                let result = try body()
                return met.pointee == 0 ? result : nil
            } catch let error as StoreError where error.code == .busy {
                return nil
            } catch {
                if met.pointee != 0 { return nil }
                throw error
            }
        }
    }

    /// `withoutWaiting`'s start: a statement that meets another connection's lock sets `met` to
    /// 1 and fails at once.
    @usableFromInline
    func stopWaiting(noting met: UnsafeMutablePointer<Int32>) {
        sqlite3_busy_handler(handle, { context, _ in
            context?.assumingMemoryBound(to: Int32.self).pointee = 1
            return 0           // do not retry: the statement fails with SQLITE_BUSY
        }, met)
    }

    /// `withoutWaiting`'s end: statements wait for the busy timeout again.
    @usableFromInline
    func resumeWaiting() {
        sqlite3_busy_timeout(handle, busyTimeout)
    }

    /// Number of rows the last statement changed.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` in a transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two
    /// processes never both read and then both try to upgrade (which SQLite answers with
    /// SQLITE_BUSY without waiting). Any error rolls everything back.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    static func error(_ rc: Int32, _ message: String) -> StoreError {
        switch rc & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return StoreError(.busy, message, sqliteCode: rc)
        case SQLITE_CONSTRAINT:
            // SQLITE_CONSTRAINT_UNIQUE and _PRIMARYKEY: macros Swift does not import.
            if rc == SQLITE_CONSTRAINT | (8 << 8) || rc == SQLITE_CONSTRAINT | (6 << 8) {
                return StoreError(.exists, message, sqliteCode: rc)
            }
            return StoreError(.invalidArgument, message, sqliteCode: rc)
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return StoreError(.corrupt, message, sqliteCode: rc)
        default:
            return StoreError(.io, message, sqliteCode: rc)
        }
    }

    func lastError(_ rc: Int32, _ what: String) -> StoreError {
        Database.error(rc, "\(path): \(what): \(String(cString: sqlite3_errmsg(handle)))")
    }
}

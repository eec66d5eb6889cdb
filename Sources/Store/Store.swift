import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Skiff's persistent state under `<storage root>/skiff/`.
public final class Store {
    /// `<graphroot>/skiff`
    public let root: String
    public let database: Database

    public static let databaseName = "skiff.db"

    /// The WAL-index header's mapping, made on first use of `changeToken`.
    private var walIndex: WALIndexWatch?
    /// Mapping it failed once: not tried again (every read then reads the database).
    private var walIndexFailed = false

    /// Opens the store in `root`, creating the directory (0700) and the database if needed, and
    /// brings the schema up to date. `readOnly`: a second connection of a process whose first
    /// one is open (its schema up to date) that only reads (`PRAGMA query_only`): no migration.
    public init(root: String, readOnly: Bool = false) throws {
        self.root = root
        do {
            try FileSystem.makeDirectories(root, mode: 0o700)
        } catch {
            throw StoreError(.io, error.description)
        }
        self.database = try Database(path: root + "/" + Store.databaseName)
        if readOnly {
            try database.execute("PRAGMA query_only=ON")
            return
        }
        // Up to date (the usual case, e.g. a monitor opening the store): no write lock taken.
        // Otherwise `migrate` checks again under BEGIN IMMEDIATE.
        if try database.schemaVersion() != Migration.latestVersion {
            try database.migrate()
        }
    }

    /// A token that changes with every commit to the database, by any connection of any
    /// process (`WALIndexWatch`), read without a transaction; nil when it cannot be read (then
    /// nothing can be kept between reads). Take it before the read whose result it labels.
    public func changeToken() -> WALToken? {
        if walIndex == nil {
            guard !walIndexFailed else { return nil }
            // The connection maps the WAL-index when it first reads through the WAL.
            guard (try? database.schemaVersion()) != nil else { return nil }
            walIndex = WALIndexWatch(database)
            walIndexFailed = walIndex == nil
        }
        return walIndex?.token()
    }

    /// Container counts by state, for `/info`.
    public func containerCounts() throws -> (total: Int, running: Int, paused: Int, stopped: Int) {
        var running = 0, paused = 0, stopped = 0
        for row in try database.query("SELECT state, count(*) FROM containers GROUP BY state") {
            let n = Int(row.int(1) ?? 0)
            switch row.text(0) {
            case "running", "restarting": running += n
            case "paused": paused += n
            default: stopped += n
            }
        }
        return (running + paused + stopped, running, paused, stopped)
    }

    /// Number of images (not names), for `/info`.
    public func imageCount() throws -> Int {
        Int(try database.queryScalarInt("SELECT count(*) FROM images") ?? 0)
    }
}

extension Store {
    /// This store's identity (a random UUID made on first use), reported as `/info` `ID`.
    public func engineID() throws -> String {
        if let id = try database.queryScalarText("SELECT id FROM engine WHERE singleton = 1") {
            return id
        }
        let candidate = try Store.randomUUID()
        return try database.transaction {
            try database.query("INSERT OR IGNORE INTO engine (singleton, id, created) VALUES (1, ?, ?)",
                               [.text(candidate), .integer(Int64(time(nil)))])
            return try database.queryScalarText("SELECT id FROM engine WHERE singleton = 1") ?? candidate
        }
    }

    /// A version 4 UUID from the kernel's random source.
    static func randomUUID() throws -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.io, "open /dev/urandom: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n == 16 else { throw StoreError(.io, "read /dev/urandom: short read") }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]]
            .map { $0.joined() }.joined(separator: "-")
    }
}

import CSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Whether anything was committed to a WAL-mode database since a moment, told without a
/// transaction: from the header of the WAL-index (the `-shm` file every connection maps), which
/// every commit of every connection, of any process, rewrites (its change counter, the WAL's
/// last frame and the frames' checksum; a WAL restart changes the salts). The header's layout is
/// part of SQLite's documented file format (sqlite.org/walformat.html, "The WAL-Index Header").
///
/// Starting a read transaction costs more than a short query does (shared-memory locks taken
/// with fcntl, the pager's checks): a reader that must answer fast keeps what it read under the
/// token it saw *before* reading, and reads again only when the token changed. What it read is
/// never older than the token (the read began after it), so a changed database is always seen.
///
/// The header is read where the connection itself has the WAL-index mapped (`xShmMap`, through
/// `skiff_sqlite_wal_index`): the process opens no descriptor of its own on the `-shm` file, as
/// closing one would drop SQLite's POSIX locks on it (its dead-man switch among them). While the
/// connection is open it holds that lock shared, so no process may truncate or remove the file.
public final class WALIndexWatch {
    /// The two copies of the 48-byte header.
    static let headerSize = 48
    /// `iVersion` of the WAL-index format this reads (3.7.0 and every SQLite since).
    static let formatVersion: UInt32 = 3_007_000

    private let base: UnsafeRawPointer

    /// The connection's mapping of the WAL-index; nil when it has none (it has not read
    /// through the WAL yet, or its file has no shared memory). Valid while `database` is open:
    /// its owner keeps both.
    init?(_ database: Database) {
        guard let base = skiff_sqlite_wal_index(database.handle) else { return nil }
        self.base = base
    }

    /// The header as it is now; nil while a writer is between its two copies, or when the
    /// header is not initialized or of another format (then the caller reads the database).
    /// A writer writes the second copy, then the first; reading the first, then the second, and
    /// finding them equal means neither was torn (SQLite's readers check the same way).
    public func token() -> WALToken? {
        let first = WALToken(base)
        atomicMemoryFence(ordering: .acquiring)
        let second = WALToken(base + WALIndexWatch.headerSize)
        guard first == second, first.isInitialized, first.version == WALIndexWatch.formatVersion else { return nil }
        return first
    }
}

/// One reading of the WAL-index header: equal readings mean nothing was committed in between.
public struct WALToken: Equatable, Sendable {
    private let words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// `iVersion`, the header's first word.
    let version: UInt32
    /// `isInit`, byte 12.
    let isInitialized: Bool

    init(_ header: UnsafeRawPointer) {
        words = (header.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                 header.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                 header.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                 header.loadUnaligned(fromByteOffset: 24, as: UInt64.self),
                 header.loadUnaligned(fromByteOffset: 32, as: UInt64.self),
                 header.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
        version = header.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        isInitialized = header.load(fromByteOffset: 12, as: UInt8.self) != 0
    }

    public static func == (lhs: WALToken, rhs: WALToken) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3 && lhs.words.4 == rhs.words.4 && lhs.words.5 == rhs.words.5
    }
}

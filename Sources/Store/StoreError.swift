import CSQLite

/// The one error type of the Store module. The API maps `code` to an HTTP status in one switch.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case notFound
        case exists
        case invalidArgument
        case invalidState
        /// The database is busy beyond the busy timeout, or locked by another process.
        case busy
        /// The database file is newer than this program or damaged.
        case corrupt
        /// Any other SQLite or file-system failure.
        case io
    }

    public var code: Code
    public var message: String
    /// The SQLite result code, when the error came from SQLite.
    public var sqliteCode: Int32?

    public init(_ code: Code, _ message: String, sqliteCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.sqliteCode = sqliteCode
    }

    public var description: String { message }
}

extension StoreError {
    /// SQLite could not write for want of space ("database or disk is full").
    public var isDiskFull: Bool {
        guard let sqliteCode else { return false }
        return sqliteCode & 0xff == SQLITE_FULL
    }
}

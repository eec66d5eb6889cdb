/// A parsed TOML value. Every table entry remembers the line it was written on.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    /// Offset/local date-times, dates and times, kept as written (Skiff reads none of them).
    case datetime(String)
    case array([TOMLValue])
    case table(TOMLTable)

    /// A short name of the type for error messages.
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .bool: return "a boolean"
        case .datetime: return "a date-time"
        case .array: return "an array"
        case .table: return "a table"
        }
    }
}

/// A TOML table: its keys in the order they were written, each with its value and line.
public struct TOMLTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var value: TOMLValue
        /// 1-based line of the key (or of the `[header]` for tables defined by a header).
        public var line: Int
    }

    public private(set) var keys: [String] = []
    public private(set) var entries: [String: Entry] = [:]

    /// Set for `{ ... }` tables: TOML forbids adding keys to them afterwards.
    var isInline = false
    /// Set for tables named by a `[header]` (or the root): a second header for it is an error.
    var isExplicit = false
    /// Set for tables created implicitly by a dotted key: a later `[header]` may not reopen them.
    var isDottedKeyTable = false
    /// Set for `[[array]]` arrays: only those may get more elements from later headers.
    var arrayOfTables: Set<String> = []

    public init() {}

    public subscript(key: String) -> Entry? {
        get { entries[key] }
        set {
            if entries[key] == nil { keys.append(key) }
            if let newValue { entries[key] = newValue } else {
                entries[key] = nil
                keys.removeAll { $0 == key }
            }
        }
    }

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        a.keys == b.keys && a.entries == b.entries
    }
}

/// A syntax or structure error, with the 1-based line and column where it was found.
public struct TOMLError: Error, Equatable, CustomStringConvertible, Sendable {
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "line \(line), column \(column): \(message)" }
}

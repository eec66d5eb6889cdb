/// The value of one configuration key, as Skiff uses it.
public enum Value: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case stringArray([String])
    case float(Double)
    /// A table-valued key (inline tables, arrays of tables), kept as TOML text for display.
    case raw(String)

    /// The value as TOML would write it.
    public var description: String {
        switch self {
        case .string(let s): return TOMLValue.quote(s)
        case .integer(let i): return String(i)
        case .bool(let b): return String(b)
        case .stringArray(let a): return "[" + a.map(TOMLValue.quote).joined(separator: ", ") + "]"
        case .float(let d): return String(d)
        case .raw(let text): return text
        }
    }
}

/// The TOML type a key must have.
public enum ValueKind: Sendable, Equatable {
    case string, integer, bool, stringArray, float, table

    var expected: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .bool: return "a boolean"
        case .stringArray: return "an array of strings"
        case .float: return "a number"
        case .table: return "a table"
        }
    }
}

/// One key a configuration file may hold: where it lives, its type, and the built-in default.
public struct KeySpec: Sendable {
    /// Dotted table path, e.g. `containers` or `storage.options.overlay`.
    public let table: String
    /// The key, or `*` for tables whose keys are free-form (`[engine.runtimes]`).
    public let key: String
    public let kind: ValueKind
    public let defaultValue: Value?

    public init(_ table: String, _ key: String, _ kind: ValueKind, default defaultValue: Value?) {
        self.table = table
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
    }

    /// `table.key`, the name `skiff config` prints.
    public var name: String { table + "." + key }
}

/// The two files Skiff reads and what each may contain.
public enum ConfigSchema {
    public enum File: String, Sendable {
        case containers = "containers.conf"
        case storage = "storage.conf"

        public var keys: [KeySpec] {
            switch self {
            case .containers: return ConfigSchema.containersKeys
            case .storage: return ConfigSchema.storageKeys
            }
        }
    }

    /// Lookup tables built once per file kind.
    struct Index: Sendable {
        let byName: [String: KeySpec]
        let tables: Set<String>

        init(_ keys: [KeySpec]) {
            var byName: [String: KeySpec] = [:]
            var tables: Set<String> = []
            for spec in keys {
                byName[spec.name] = spec
                var parts = spec.table.split(separator: ".").map(String.init)
                while !parts.isEmpty {
                    tables.insert(parts.joined(separator: "."))
                    parts.removeLast()
                }
            }
            self.byName = byName
            self.tables = tables
        }

        func spec(table: String, key: String) -> KeySpec? {
            byName[table + "." + key] ?? byName[table + ".*"]
        }
    }

    static let containersIndex = Index(containersKeys)
    static let storageIndex = Index(storageKeys)

    static func index(_ file: File) -> Index {
        file == .containers ? containersIndex : storageIndex
    }
}

extension TOMLValue {
    /// A TOML basic string for `s`.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// The value as TOML text (inline form), for display.
    public var rendered: String {
        switch self {
        case .string(let s): return TOMLValue.quote(s)
        case .integer(let i): return String(i)
        case .float(let d): return String(d)
        case .bool(let b): return String(b)
        case .datetime(let d): return d
        case .array(let a): return "[" + a.map(\.rendered).joined(separator: ", ") + "]"
        case .table(let t):
            let body = t.keys.compactMap { key in t[key].map { "\(key) = \($0.value.rendered)" } }
            return "{" + body.joined(separator: ", ") + "}"
        }
    }
}

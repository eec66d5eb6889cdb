/// A TOML 1.0 reader that keeps the line of every key, so a configuration value can say which
/// line of which file set it. Written for configuration files: it reads the whole text at once.
public struct TOMLParser {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0

    private init(_ text: String) {
        bytes = Array(text.utf8)
    }

    /// Parses a whole document.
    public static func parse(_ text: String) throws -> TOMLTable {
        var parser = TOMLParser(text)
        return try parser.document()
    }

    /// Parses raw bytes, refusing what is not UTF-8.
    public static func parse(bytes: [UInt8]) throws -> TOMLTable {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TOMLError(line: 1, column: 1, message: "the file is not valid UTF-8")
        }
        return try parse(text)
    }

    // MARK: - Document structure

    private enum Navigation { case header, dottedKey }

    private mutating func document() throws -> TOMLTable {
        var root = TOMLTable()
        root.isExplicit = true
        var current: [String] = []
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3; lineStart = 3 }
        while true {
            skipSpaces()
            guard let c = peek() else { break }
            if c == UInt8(ascii: "#") || isNewlineStart(c) {
                try endOfLine()
                continue
            }
            if c == UInt8(ascii: "[") {
                current = try header(into: &root)
            } else {
                let keyLine = line
                let keyColumn = column
                let path = try key()
                skipSpaces()
                try expect("=", "expected '=' after the key")
                skipSpaces()
                let value = try self.value()
                try assign(path, value, line: keyLine, column: keyColumn, under: current, in: &root)
            }
            try endOfLine()
        }
        return root
    }

    /// `[a.b]` or `[[a.b]]`; returns the path that later keys go into.
    private mutating func header(into root: inout TOMLTable) throws -> [String] {
        let headerLine = line
        let headerColumn = column
        advance()
        let isArray = peek() == UInt8(ascii: "[")
        if isArray { advance() }
        skipSpaces()
        let path = try key()
        skipSpaces()
        try expect("]", "expected ']' to close the table header")
        if isArray { try expect("]", "expected ']]' to close the array-of-tables header") }
        let name = path.joined(separator: ".")
        let fail = { (message: String) in TOMLError(line: headerLine, column: headerColumn, message: message) }

        try descend(&root, path.dropLast()[...], .header, line: headerLine, column: headerColumn) { parent in
            let last = path[path.count - 1]
            if isArray {
                if let entry = parent[last] {
                    guard parent.arrayOfTables.contains(last), case .array(var elements) = entry.value else {
                        throw fail("cannot define [[\(name)]]: '\(name)' is already \(entry.value.typeName) (line \(entry.line))")
                    }
                    var table = TOMLTable()
                    table.isExplicit = true
                    elements.append(.table(table))
                    parent[last] = .init(value: .array(elements), line: entry.line)
                } else {
                    var table = TOMLTable()
                    table.isExplicit = true
                    parent.arrayOfTables.insert(last)
                    parent[last] = .init(value: .array([.table(table)]), line: headerLine)
                }
            } else if let entry = parent[last] {
                guard case .table(var table) = entry.value else {
                    throw fail("cannot define [\(name)]: '\(name)' is already \(entry.value.typeName) (line \(entry.line))")
                }
                if table.isExplicit || table.isInline {
                    throw fail("table [\(name)] is defined twice (first on line \(entry.line))")
                }
                if table.isDottedKeyTable {
                    throw fail("table [\(name)] was already defined by dotted keys (line \(entry.line))")
                }
                table.isExplicit = true
                parent[last] = .init(value: .table(table), line: headerLine)
            } else {
                var table = TOMLTable()
                table.isExplicit = true
                parent[last] = .init(value: .table(table), line: headerLine)
            }
        }
        return path
    }

    private func assign(_ path: [String], _ value: TOMLValue, line keyLine: Int, column keyColumn: Int,
                        under current: [String], in root: inout TOMLTable) throws {
        try descend(&root, current[...], .header, line: keyLine, column: keyColumn) { table in
            try setKey(path, value, line: keyLine, column: keyColumn, in: &table)
        }
    }

    private func setKey(_ path: [String], _ value: TOMLValue, line keyLine: Int, column keyColumn: Int,
                        in table: inout TOMLTable) throws {
        try descend(&table, path.dropLast()[...], .dottedKey, line: keyLine, column: keyColumn) { target in
            let last = path[path.count - 1]
            if let existing = target[last] {
                throw TOMLError(line: keyLine, column: keyColumn,
                                message: "duplicate key '\(path.joined(separator: "."))' (first defined on line \(existing.line))")
            }
            target[last] = .init(value: value, line: keyLine)
        }
    }

    /// Walks `path` from `table`, creating missing tables, and runs `body` on the table at its end.
    private func descend(_ table: inout TOMLTable, _ path: ArraySlice<String>, _ mode: Navigation,
                         line keyLine: Int, column keyColumn: Int,
                         _ body: (inout TOMLTable) throws -> Void) throws {
        guard let key = path.first else {
            try body(&table)
            return
        }
        let rest = path.dropFirst()
        let fail = { (message: String) in TOMLError(line: keyLine, column: keyColumn, message: message) }
        guard var entry = table[key] else {
            var sub = TOMLTable()
            sub.isDottedKeyTable = mode == .dottedKey
            try descend(&sub, rest, mode, line: keyLine, column: keyColumn, body)
            table[key] = .init(value: .table(sub), line: keyLine)
            return
        }
        switch entry.value {
        case .table(var sub):
            if sub.isInline {
                throw fail("cannot add to the inline table '\(key)' (line \(entry.line))")
            }
            if mode == .dottedKey && sub.isExplicit {
                throw fail("cannot add to table '\(key)' with dotted keys: it has its own [header] (line \(entry.line))")
            }
            entry.value = .table(TOMLTable())   // drop the second reference so `sub` is mutated in place
            table[key] = entry
            try descend(&sub, rest, mode, line: keyLine, column: keyColumn, body)
            entry.value = .table(sub)
            table[key] = entry
        case .array(var elements) where mode == .header && table.arrayOfTables.contains(key):
            guard case .table(var last)? = elements.last else {
                throw fail("'\(key)' is not an array of tables")
            }
            try descend(&last, rest, mode, line: keyLine, column: keyColumn, body)
            elements[elements.count - 1] = .table(last)
            entry.value = .array(elements)
            table[key] = entry
        default:
            throw fail("'\(key)' is already \(entry.value.typeName) (line \(entry.line)), not a table")
        }
    }

    // MARK: - Keys

    private mutating func key() throws -> [String] {
        var parts = [try simpleKey()]
        while true {
            let save = (pos, line, lineStart)
            skipSpaces()
            if peek() == UInt8(ascii: ".") {
                advance()
                skipSpaces()
                parts.append(try simpleKey())
            } else {
                (pos, line, lineStart) = save
                return parts
            }
        }
    }

    private mutating func simpleKey() throws -> String {
        guard let c = peek() else { throw error("expected a key, found the end of the file") }
        if c == UInt8(ascii: "\"") {
            if startsWith("\"\"\"") { throw error("a key cannot be a multi-line string") }
            return try basicString()
        }
        if c == UInt8(ascii: "'") {
            if startsWith("'''") { throw error("a key cannot be a multi-line string") }
            return try literalString()
        }
        let start = pos
        while let c = peek(), isBareKeyChar(c) { advance() }
        guard pos > start else { throw error("expected a key, found \(describe(c))") }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    private func isBareKeyChar(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    // MARK: - Values

    private mutating func value() throws -> TOMLValue {
        guard let c = peek() else { throw error("expected a value, found the end of the file") }
        switch c {
        case UInt8(ascii: "\""):
            return .string(startsWith("\"\"\"") ? try multilineBasicString() : try basicString())
        case UInt8(ascii: "'"):
            return .string(startsWith("'''") ? try multilineLiteralString() : try literalString())
        case UInt8(ascii: "["):
            return try array()
        case UInt8(ascii: "{"):
            return try inlineTable()
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if try keyword("true") { return .bool(true) }
            if try keyword("false") { return .bool(false) }
            throw error("expected a value, found \(describe(c))")
        default:
            return try numberOrDate()
        }
    }

    private mutating func keyword(_ word: String) throws -> Bool {
        guard startsWith(word) else { return false }
        let end = pos + word.utf8.count
        if end < bytes.count, isBareKeyChar(bytes[end]) { return false }
        pos = end
        return true
    }

    private mutating func array() throws -> TOMLValue {
        advance()
        var elements: [TOMLValue] = []
        while true {
            try skipSpacesNewlinesAndComments()
            guard let c = peek() else { throw error("unterminated array: expected ']'") }
            if c == UInt8(ascii: "]") { advance(); return .array(elements) }
            elements.append(try value())
            try skipSpacesNewlinesAndComments()
            guard let d = peek() else { throw error("unterminated array: expected ']'") }
            if d == UInt8(ascii: ",") { advance(); continue }
            if d == UInt8(ascii: "]") { advance(); return .array(elements) }
            throw error("expected ',' or ']' in the array, found \(describe(d))")
        }
    }

    private mutating func inlineTable() throws -> TOMLValue {
        advance()
        var table = TOMLTable()
        skipSpaces()
        if peek() == UInt8(ascii: "}") {
            advance()
            table.isInline = true
            return .table(table)
        }
        while true {
            skipSpaces()
            let keyLine = line
            let keyColumn = column
            let path = try key()
            skipSpaces()
            try expect("=", "expected '=' after the key")
            skipSpaces()
            let value = try self.value()
            try setKey(path, value, line: keyLine, column: keyColumn, in: &table)
            skipSpaces()
            guard let c = peek() else { throw error("unterminated inline table: expected '}'") }
            if c == UInt8(ascii: ",") { advance(); continue }
            if c == UInt8(ascii: "}") {
                advance()
                table.isInline = true
                return .table(table)
            }
            throw error("expected ',' or '}' in the inline table, found \(describe(c))")
        }
    }

    private mutating func numberOrDate() throws -> TOMLValue {
        let start = pos
        let startColumn = column
        while let c = peek(), isBareKeyChar(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                || c == UInt8(ascii: ":") {
            advance()
        }
        // A date-time may separate date and time with one space: "1979-05-27 07:32:00".
        if pos - start == 10, bytes[start + 4] == UInt8(ascii: "-"), peek() == UInt8(ascii: " "),
           pos + 1 < bytes.count, isDigit(bytes[pos + 1]) {
            advance()
            while let c = peek(), isBareKeyChar(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                    || c == UInt8(ascii: ":") {
                advance()
            }
        }
        let token = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard !token.isEmpty else { throw error("expected a value, found \(describe(peek()))") }
        if let value = TOMLParser.number(token) { return value }
        if TOMLParser.isDateTime(token) { return .datetime(token) }
        throw TOMLError(line: line, column: startColumn, message: "invalid value '\(token)'")
    }

    /// Integers (decimal, 0x, 0o, 0b, with `_` between digits) and floats (incl. inf and nan).
    static func number(_ token: String) -> TOMLValue? {
        switch token {
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        var chars = Array(token.utf8)
        for radix in [(UInt8(ascii: "x"), 16), (UInt8(ascii: "o"), 8), (UInt8(ascii: "b"), 2)]
            where chars.count > 2 && chars[0] == UInt8(ascii: "0") && chars[1] == radix.0 {
            let digits = Array(chars[2...])
            guard underscoresAreBetweenDigits(digits, hex: radix.1 == 16) else { return nil }
            let clean = String(decoding: digits.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
            return Int(clean, radix: radix.1).map(TOMLValue.integer)
        }
        var body = chars[...]
        if let first = body.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            body = body.dropFirst()
        }
        guard let first = body.first, isDigitStatic(first) else { return nil }
        let isFloat = body.contains(UInt8(ascii: ".")) || body.contains(UInt8(ascii: "e"))
            || body.contains(UInt8(ascii: "E"))
        // Leading zeros are not allowed ("01"), except a lone zero and "0.5"/"0e1".
        if first == UInt8(ascii: "0"), body.count > 1, isDigitStatic(body[body.startIndex + 1])
            || body[body.startIndex + 1] == UInt8(ascii: "_") {
            return nil
        }
        if isFloat {
            // mantissa: digits, optionally '.' digits; exponent: optional sign, digits.
            let exponentStart = body.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
            let mantissa = body[..<(exponentStart ?? body.endIndex)]
            let parts = mantissa.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard parts.count <= 2,
                  parts.allSatisfy({ underscoresAreBetweenDigits(Array($0), hex: false) }) else { return nil }
            if let exponentStart {
                var exponent = body[body.index(after: exponentStart)...]
                if let sign = exponent.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    exponent = exponent.dropFirst()
                }
                guard underscoresAreBetweenDigits(Array(exponent), hex: false) else { return nil }
            }
            chars.removeAll { $0 == UInt8(ascii: "_") }
            return Double(String(decoding: chars, as: UTF8.self)).map(TOMLValue.float)
        }
        guard underscoresAreBetweenDigits(Array(body), hex: false) else { return nil }
        chars.removeAll { $0 == UInt8(ascii: "_") }
        return Int(String(decoding: chars, as: UTF8.self)).map(TOMLValue.integer)
    }

    private static func underscoresAreBetweenDigits(_ digits: [UInt8], hex: Bool) -> Bool {
        guard !digits.isEmpty else { return false }
        let isDigit = { (c: UInt8) -> Bool in
            isDigitStatic(c) || (hex && ((c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)))
        }
        for (i, c) in digits.enumerated() {
            if c == UInt8(ascii: "_") {
                guard i > 0, i + 1 < digits.count, isDigit(digits[i - 1]), isDigit(digits[i + 1]) else { return false }
            } else if !isDigit(c) {
                return false
            }
        }
        return true
    }

    /// Offset date-time, local date-time, local date or local time (RFC 3339 shapes).
    static func isDateTime(_ token: String) -> Bool {
        let c = Array(token.utf8)
        func digits(_ range: Range<Int>) -> Bool { range.upperBound <= c.count && c[range].allSatisfy(isDigitStatic) }
        func time(at i: Int) -> Bool {
            guard digits(i..<i + 2), i + 8 <= c.count, c[i + 2] == UInt8(ascii: ":"), digits(i + 3..<i + 5),
                  c[i + 5] == UInt8(ascii: ":"), digits(i + 6..<i + 8) else { return false }
            var j = i + 8
            if j < c.count, c[j] == UInt8(ascii: ".") {
                j += 1
                let fractionStart = j
                while j < c.count, isDigitStatic(c[j]) { j += 1 }
                guard j > fractionStart else { return false }
            }
            if j == c.count { return true }
            if c[j] == UInt8(ascii: "Z") || c[j] == UInt8(ascii: "z") { return j + 1 == c.count }
            guard c[j] == UInt8(ascii: "+") || c[j] == UInt8(ascii: "-") else { return false }
            return c.count == j + 6 && digits(j + 1..<j + 3) && c[j + 3] == UInt8(ascii: ":") && digits(j + 4..<j + 6)
        }
        if c.count >= 10, digits(0..<4), c[4] == UInt8(ascii: "-"), digits(5..<7), c[7] == UInt8(ascii: "-"),
           digits(8..<10) {
            if c.count == 10 { return true }
            let separator = c[10]
            guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
                    || separator == UInt8(ascii: " ") else { return false }
            return time(at: 11)
        }
        return time(at: 0) && !token.contains("Z") && !token.contains("+")
    }

    // MARK: - Strings

    private mutating func basicString() throws -> String {
        advance()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated string") }
            if c == UInt8(ascii: "\"") { advance(); break }
            if isNewlineStart(c) { throw error("unterminated string: a newline inside a one-line string") }
            if c == UInt8(ascii: "\\") {
                try escape(into: &out)
                continue
            }
            try checkControl(c)
            out.append(c)
            advance()
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func multilineBasicString() throws -> String {
        try multilineString(quote: UInt8(ascii: "\""), escapes: true)
    }

    /// `"""..."""` (with escapes and line-ending backslashes) or `'''...'''` (raw).
    private mutating func multilineString(quote: UInt8, escapes: Bool) throws -> String {
        let delimiter = String(repeating: Character(UnicodeScalar(quote)), count: 3)
        pos += 3
        skipOneNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated multi-line string") }
            if startsWith(delimiter) {
                // Up to two quotes may stand right before the closing delimiter.
                var quotes = 3
                while pos + quotes < bytes.count, bytes[pos + quotes] == quote, quotes < 5 { quotes += 1 }
                out.append(contentsOf: repeatElement(quote, count: quotes - 3))
                pos += quotes
                break
            }
            if escapes && c == UInt8(ascii: "\\") {
                // A backslash at the end of a line trims the newline and following whitespace.
                var j = pos + 1
                while j < bytes.count, bytes[j] == UInt8(ascii: " ") || bytes[j] == UInt8(ascii: "\t") { j += 1 }
                if j < bytes.count, isNewlineStart(bytes[j]) {
                    pos = j
                    while let d = peek(), d == UInt8(ascii: " ") || d == UInt8(ascii: "\t") || isNewlineStart(d) {
                        if isNewlineStart(d) { try newline() } else { advance() }
                    }
                    continue
                }
                try escape(into: &out)
                continue
            }
            if isNewlineStart(c) {
                try newline()
                out.append(UInt8(ascii: "\n"))
                continue
            }
            try checkControl(c)
            out.append(c)
            advance()
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func literalString() throws -> String {
        advance()
        let start = pos
        while true {
            guard let c = peek() else { throw error("unterminated string") }
            if c == UInt8(ascii: "'") { break }
            if isNewlineStart(c) { throw error("unterminated string: a newline inside a one-line string") }
            try checkControl(c)
            advance()
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        advance()
        return text
    }

    private mutating func multilineLiteralString() throws -> String {
        try multilineString(quote: UInt8(ascii: "'"), escapes: false)
    }

    private mutating func escape(into out: inout [UInt8]) throws {
        advance()
        guard let c = peek() else { throw error("unterminated escape sequence") }
        advance()
        switch c {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "e"): out.append(0x1B)
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = c == UInt8(ascii: "u") ? 4 : 8
            guard pos + count <= bytes.count,
                  let scalarValue = UInt32(String(decoding: bytes[pos..<pos + count], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(scalarValue) else {
                throw error("invalid unicode escape")
            }
            pos += count
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw TOMLError(line: line, column: column - 1, message: "invalid escape sequence '\\\(describeRaw(c))'")
        }
    }

    private func checkControl(_ c: UInt8) throws {
        if (c < 0x20 && c != 0x09) || c == 0x7F {
            throw error("control character \(describe(c)) inside a string")
        }
    }

    // MARK: - Whitespace, comments and lines

    private mutating func skipSpaces() {
        while let c = peek(), c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { advance() }
    }

    private mutating func skipComment() throws {
        guard peek() == UInt8(ascii: "#") else { return }
        while let c = peek(), !isNewlineStart(c) {
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw error("control character \(describe(c)) in a comment") }
            advance()
        }
    }

    private mutating func skipSpacesNewlinesAndComments() throws {
        while true {
            skipSpaces()
            guard let c = peek() else { return }
            if c == UInt8(ascii: "#") { try skipComment(); continue }
            if isNewlineStart(c) { try newline(); continue }
            return
        }
    }

    /// After a key/value pair or header: optional spaces and comment, then a newline or the end.
    private mutating func endOfLine() throws {
        skipSpaces()
        try skipComment()
        guard let c = peek() else { return }
        guard isNewlineStart(c) else {
            throw error("expected the end of the line, found \(describe(c))")
        }
        try newline()
    }

    private func isNewlineStart(_ c: UInt8) -> Bool { c == 0x0A || c == 0x0D }

    private mutating func newline() throws {
        if peek() == 0x0D {
            advance()
            guard peek() == 0x0A else { throw error("a carriage return must be followed by a newline") }
        }
        advance()
        line += 1
        lineStart = pos
    }

    private mutating func skipOneNewline() {
        if startsWith("\n") { advance(); line += 1; lineStart = pos }
        else if startsWith("\r\n") { pos += 2; line += 1; lineStart = pos }
    }

    // MARK: - Primitives

    private var column: Int {
        // Columns count characters, not bytes.
        String(decoding: bytes[lineStart..<min(pos, bytes.count)], as: UTF8.self).count + 1
    }

    private func peek() -> UInt8? { pos < bytes.count ? bytes[pos] : nil }
    private mutating func advance() { pos += 1 }

    private func startsWith(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return pos + u.count <= bytes.count && bytes[pos..<pos + u.count].elementsEqual(u)
    }

    private mutating func expect(_ s: String, _ message: String) throws {
        guard startsWith(s) else { throw error("\(message), found \(describe(peek()))") }
        pos += s.utf8.count
    }

    private func isDigit(_ c: UInt8) -> Bool { TOMLParser.isDigitStatic(c) }
    private static func isDigitStatic(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private func error(_ message: String) -> TOMLError {
        TOMLError(line: line, column: column, message: message)
    }

    private func describe(_ c: UInt8?) -> String {
        guard let c else { return "the end of the file" }
        if isNewlineStart(c) { return "the end of the line" }
        return "'\(describeRaw(c))'"
    }

    private func describeRaw(_ c: UInt8) -> String {
        if c >= 0x20 && c < 0x7F { return String(UnicodeScalar(c)) }
        return "\\x" + String(c, radix: 16)
    }
}

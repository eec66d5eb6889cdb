/// Reads JSON text into a `JSON` value, without Foundation (whose decoder costs a Swift runtime
/// conformance scan and megabytes of memory in a small process). Errors say where and what:
/// "line 3, column 7: expected ',' or '}', found ']'". Trailing commas are accepted, as
/// Foundation's JSONDecoder accepts them. Integers that fit are `.int`, larger unsigned ones
/// `.uint`, others `.double`. In an object a repeated key keeps every member; lookups see the
/// last, as Go's decoder does.
public struct JSONParser {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// "line L, column C: what"
        public var message: String
        public var description: String { message }
    }

    private let bytes: [UInt8]
    private var at = 0

    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSON {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        if parser.at == bytes.count { throw Failure(message: parser.message("the file is empty", at: 0)) }
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.at < bytes.count { throw parser.error("unexpected text after the end of the JSON value") }
        return value
    }

    public static func parse(_ text: String) throws(Failure) -> JSON {
        try parse(Array(text.utf8))
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func message(_ what: String, at offset: Int) -> String {
        var line = 1
        var column = 1
        var i = 0
        while i < offset && i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if bytes[i] & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        return "line \(line), column \(column): \(what)"
    }

    private func error(_ what: String) -> Failure {
        Failure(message: message(what, at: at))
    }

    private var current: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipSpace() {
        while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { at += 1 }
    }

    private func describe(_ c: UInt8?) -> String {
        guard let c else { return "the end of the file" }
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(String(c, radix: 16))"
    }

    private mutating func value(depth: Int) throws(Failure) -> JSON {
        guard depth < 512 else { throw error("nested too deeply") }
        guard let c = current else { throw error("expected a value, found the end of the file") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: throw error("expected a value, found \(describe(c))")
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> JSON {
        at += 1
        skipSpace()
        var members: [JSON.Member] = []
        if current == UInt8(ascii: "}") { at += 1; return .object(members) }
        while true {
            guard current == UInt8(ascii: "\"") else {
                throw error("expected a key in double quotes, found \(describe(current))")
            }
            let key = try string()
            skipSpace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':', found \(describe(current))") }
            at += 1
            skipSpace()
            members.append(JSON.Member(key, try value(depth: depth + 1)))
            skipSpace()
            switch current {
            case UInt8(ascii: ","):
                at += 1
                skipSpace()
                if current == UInt8(ascii: "}") { at += 1; return .object(members) }
            case UInt8(ascii: "}"):
                at += 1
                return .object(members)
            default:
                throw error("expected ',' or '}', found \(describe(current))")
            }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSON {
        at += 1
        skipSpace()
        var elements: [JSON] = []
        if current == UInt8(ascii: "]") { at += 1; return .array(elements) }
        while true {
            elements.append(try value(depth: depth + 1))
            skipSpace()
            switch current {
            case UInt8(ascii: ","):
                at += 1
                skipSpace()
                if current == UInt8(ascii: "]") { at += 1; return .array(elements) }
            case UInt8(ascii: "]"):
                at += 1
                return .array(elements)
            default:
                throw error("expected ',' or ']', found \(describe(current))")
            }
        }
    }

    private mutating func string() throws(Failure) -> String {
        let start = at
        at += 1
        var out: [UInt8] = []
        while let c = current {
            switch c {
            case UInt8(ascii: "\""):
                at += 1
                guard let text = String(validating: out, as: UTF8.self) else {
                    at = start
                    throw error("a string that is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                at += 1
                guard let e = current else { break }
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), bytes.count > at + 2,
                       bytes[at + 1] == UInt8(ascii: "\\"), bytes[at + 2] == UInt8(ascii: "u") {
                        at += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                    }
                    out += Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
                default:
                    throw error("bad escape '\\\(Character(Unicode.Scalar(e)))' in a string")
                }
                at += 1
            case 0..<0x20:
                throw error("control character in a string (write it as an escape)")
            default:
                out.append(c)
                at += 1
            }
        }
        at = start
        throw error("string never closed")
    }

    /// Four hex digits after `\u`; leaves `at` on the last one.
    private mutating func hex4() throws(Failure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            at += 1
            guard let h = current, let digit = hexValue(h) else { throw error("bad \\u escape in a string") }
            value = value << 4 | digit
        }
        return value
    }

    private func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private mutating func digits() -> Int {
        var n = 0
        while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { at += 1; n += 1 }
        return n
    }

    private mutating func number() throws(Failure) -> JSON {
        let start = at
        var isInteger = true
        if current == UInt8(ascii: "-") { at += 1 }
        if current == UInt8(ascii: "0") {
            at += 1
        } else if digits() == 0 {
            at = start
            throw error("bad number")
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            at += 1
            if digits() == 0 { at = start; throw error("bad number") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            at += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { at += 1 }
            if digits() == 0 { at = start; throw error("bad number") }
        }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        if isInteger {
            if let n = Int64(text) { return .int(n) }
            if let n = UInt64(text) { return .uint(n) }
        }
        guard let d = Double(text) else { at = start; throw error("bad number") }
        return .double(d)
    }

    private mutating func literal(_ word: String) throws(Failure) {
        for expected in word.utf8 {
            guard current == expected else { throw error("expected \(word), found \(describe(current))") }
            at += 1
        }
    }
}

extension JSON {
    /// The last member named `key` of an object; nil for other values.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// "an object", "a string"...: for error messages.
    public var kind: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .int, .uint, .double: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

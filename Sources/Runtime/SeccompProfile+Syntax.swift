// JSONDecoder only says "not valid JSON". A profile is edited by hand, so when decoding fails we
// scan the text once more to say where and what: "line 3, column 7: expected ',' or '}'".
// The scanner accepts what JSONDecoder accepts (including trailing commas); it only explains.

extension SeccompProfile {
    struct JSONSyntax {
        private let bytes: [UInt8]
        private var at = 0

        /// The first syntax error in `bytes`, or nil if the scanner finds none.
        static func firstError(in bytes: [UInt8]) -> String? {
            var scanner = JSONSyntax(bytes: bytes)
            do throws(Failure) {
                scanner.skipSpace()
                if scanner.at == bytes.count { return scanner.message("the file is empty", at: 0) }
                try scanner.value(depth: 0)
                scanner.skipSpace()
                if scanner.at < bytes.count { throw scanner.error("unexpected text after the end of the JSON value") }
                return nil
            } catch {
                return error.text
            }
        }

        private init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        struct Failure: Error { var text: String }

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
            Failure(text: message(what, at: at))
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

        private mutating func value(depth: Int) throws(Failure) {
            guard depth < 512 else { throw error("nested too deeply") }
            guard let c = current else { throw error("expected a value, found the end of the file") }
            switch c {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: throw error("expected a value, found \(describe(c))")
            }
        }

        private mutating func object(depth: Int) throws(Failure) {
            at += 1
            skipSpace()
            if current == UInt8(ascii: "}") { at += 1; return }
            while true {
                guard current == UInt8(ascii: "\"") else {
                    throw error("expected a key in double quotes, found \(describe(current))")
                }
                try string()
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':', found \(describe(current))") }
                at += 1
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                switch current {
                case UInt8(ascii: ","):
                    at += 1
                    skipSpace()
                    if current == UInt8(ascii: "}") { at += 1; return }
                case UInt8(ascii: "}"):
                    at += 1
                    return
                default:
                    throw error("expected ',' or '}', found \(describe(current))")
                }
            }
        }

        private mutating func array(depth: Int) throws(Failure) {
            at += 1
            skipSpace()
            if current == UInt8(ascii: "]") { at += 1; return }
            while true {
                try value(depth: depth + 1)
                skipSpace()
                switch current {
                case UInt8(ascii: ","):
                    at += 1
                    skipSpace()
                    if current == UInt8(ascii: "]") { at += 1; return }
                case UInt8(ascii: "]"):
                    at += 1
                    return
                default:
                    throw error("expected ',' or ']', found \(describe(current))")
                }
            }
        }

        private mutating func string() throws(Failure) {
            let start = at
            at += 1
            while let c = current {
                switch c {
                case UInt8(ascii: "\""):
                    at += 1
                    return
                case UInt8(ascii: "\\"):
                    at += 1
                    guard let e = current else { break }
                    if e == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            at += 1
                            guard let h = current, isHex(h) else { throw error("bad \\u escape in a string") }
                        }
                    } else if !"\"\\/bfnrt".utf8.contains(e) {
                        throw error("bad escape '\\\(Character(Unicode.Scalar(e)))' in a string")
                    }
                    at += 1
                case 0..<0x20:
                    throw error("control character in a string (write it as an escape)")
                default:
                    at += 1
                }
            }
            at = start
            throw error("string never closed")
        }

        private func isHex(_ c: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
        }

        private mutating func digits() -> Int {
            var n = 0
            while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { at += 1; n += 1 }
            return n
        }

        private mutating func number() throws(Failure) {
            let start = at
            if current == UInt8(ascii: "-") { at += 1 }
            if current == UInt8(ascii: "0") {
                at += 1
            } else if digits() == 0 {
                at = start
                throw error("bad number")
            }
            if current == UInt8(ascii: ".") {
                at += 1
                if digits() == 0 { at = start; throw error("bad number") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                at += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { at += 1 }
                if digits() == 0 { at = start; throw error("bad number") }
            }
        }

        private mutating func literal(_ word: String) throws(Failure) {
            for expected in word.utf8 {
                guard current == expected else { throw error("expected \(word), found \(describe(current))") }
                at += 1
            }
        }
    }
}

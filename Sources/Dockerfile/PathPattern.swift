/// A path pattern as Docker matches them (Go's `filepath.Match`, plus `**` from moby's
/// patternmatcher): `*` any run of characters but `/`, `?` one character but `/`, `[...]` a
/// class (`[^...]` its complement, ranges, `\` escaping), `**` any run including `/` (and
/// `**/` also none), `\x` the character x.
public struct PathPattern: Sendable, Equatable {
    public let text: String
    private let chars: [Character]

    /// `text` checked for a well-formed class; moby refuses a bad one ("syntax error in pattern").
    public init(_ text: String) throws(DockerfileError) {
        self.text = text
        self.chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\" { i += 2; continue }
            if chars[i] == "[" {
                guard PathPattern.classEnd(chars, i) != nil else { throw DockerfileError(line: 0, "syntax error in pattern") }
            }
            i += 1
        }
    }

    /// Whether the pattern has a wildcard (a literal path otherwise).
    public var hasWildcards: Bool { chars.contains { $0 == "*" || $0 == "?" || $0 == "[" || $0 == "\\" } }

    public func matches(_ path: String) -> Bool {
        PathPattern.match(chars[...], Array(path)[...])
    }

    private static func match(_ p: ArraySlice<Character>, _ s: ArraySlice<Character>) -> Bool {
        var p = p, s = s
        while let c = p.first {
            switch c {
            case "*":
                if p.dropFirst().first == "*" {
                    var rest = p.dropFirst(2)
                    // `**/` may stand for no directory at all.
                    if rest.first == "/" && match(rest.dropFirst(), s) { return true }
                    while rest.first == "*" { rest = rest.dropFirst() }
                    var t = s
                    while true {
                        if match(rest, t) { return true }
                        guard !t.isEmpty else { return false }
                        t = t.dropFirst()
                    }
                }
                let rest = p.dropFirst()
                var t = s
                while true {
                    if match(rest, t) { return true }
                    guard let first = t.first, first != "/" else { return false }
                    t = t.dropFirst()
                }
            case "?":
                guard let first = s.first, first != "/" else { return false }
                p = p.dropFirst()
                s = s.dropFirst()
            case "[":
                guard let first = s.first, first != "/", let end = classEnd(Array(p), 0) else { return false }
                let body = Array(p.dropFirst().prefix(end - 1))
                guard classMatches(body, first) else { return false }
                p = p.dropFirst(end + 1)
                s = s.dropFirst()
            case "\\":
                let literal = p.dropFirst().first ?? "\\"
                guard s.first == literal else { return false }
                p = p.dropFirst(2)
                s = s.dropFirst()
            default:
                guard s.first == c else { return false }
                p = p.dropFirst()
                s = s.dropFirst()
            }
        }
        return s.isEmpty
    }

    /// The index of the `]` closing the class opened at `start`.
    static func classEnd(_ chars: [Character], _ start: Int) -> Int? {
        var i = start + 1
        if i < chars.count && chars[i] == "^" { i += 1 }
        var first = true
        while i < chars.count {
            if chars[i] == "]" && !first { return i - start }
            if chars[i] == "\\" { i += 1 }
            first = false
            i += 1
        }
        return nil
    }

    static func classMatches(_ body: [Character], _ c: Character) -> Bool {
        var items = body[...]
        var negate = false
        if items.first == "^" { negate = true; items = items.dropFirst() }
        var found = false
        while let low = items.first {
            var lowChar = low
            items = items.dropFirst()
            if lowChar == "\\", let escaped = items.first { lowChar = escaped; items = items.dropFirst() }
            var highChar = lowChar
            if items.first == "-", items.count >= 2 {
                items = items.dropFirst()
                highChar = items.first ?? lowChar
                items = items.dropFirst()
                if highChar == "\\", let escaped = items.first { highChar = escaped; items = items.dropFirst() }
            }
            if lowChar <= c && c <= highChar { found = true }
        }
        return found != negate
    }
}

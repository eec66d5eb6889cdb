/// One challenge of a WWW-Authenticate header: `Bearer realm="https://auth.example/token",
/// service="registry.example",scope="repository:library/alpine:pull"`.
struct AuthChallenge: Equatable, Sendable {
    /// Lowercased: "bearer", "basic".
    var scheme: String
    /// Parameter names lowercased; values unquoted.
    var parameters: [String: String]

    /// Every challenge in the header values (a value may hold several, comma-separated; quoted
    /// strings may hold commas and escaped quotes). Malformed parts are skipped.
    static func parse(_ values: [String]) -> [AuthChallenge] {
        values.flatMap { parse(Array($0.utf8)) }
    }

    private static func parse(_ s: [UInt8]) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        var i = 0
        func skip(_ set: [UInt8]) { while i < s.count && set.contains(s[i]) { i += 1 } }
        func token() -> String {
            let start = i
            while i < s.count && isTokenCharacter(s[i]) { i += 1 }
            return String(decoding: s[start..<i], as: UTF8.self)
        }
        let spaces: [UInt8] = [0x20, 0x09]
        let separators: [UInt8] = [0x20, 0x09, UInt8(ascii: ",")]
        while i < s.count {
            skip(separators)
            let scheme = token()
            if scheme.isEmpty {
                if i < s.count { i += 1 }   // not a token: skip the byte
                continue
            }
            var challenge = AuthChallenge(scheme: scheme.lowercased(), parameters: [:])
            while i < s.count {
                let mark = i
                skip(separators)
                let name = token()
                skip(spaces)
                guard !name.isEmpty, i < s.count, s[i] == UInt8(ascii: "=") else {
                    i = mark   // a new challenge's scheme (or the end)
                    break
                }
                i += 1
                skip(spaces)
                var value = ""
                if i < s.count && s[i] == UInt8(ascii: "\"") {
                    i += 1
                    var bytes: [UInt8] = []
                    while i < s.count && s[i] != UInt8(ascii: "\"") {
                        if s[i] == UInt8(ascii: "\\") && i + 1 < s.count { i += 1 }
                        bytes.append(s[i])
                        i += 1
                    }
                    i += 1   // the closing quote
                    value = String(decoding: bytes, as: UTF8.self)
                } else {
                    value = token()
                    // token68 padding ("abc==") belongs to the value.
                    while i < s.count && s[i] == UInt8(ascii: "=") { value += "="; i += 1 }
                }
                challenge.parameters[name.lowercased()] = value
                skip(spaces)
                if i < s.count && s[i] != UInt8(ascii: ",") {
                    // Junk after a value: skip to the next comma.
                    while i < s.count && s[i] != UInt8(ascii: ",") { i += 1 }
                }
            }
            challenges.append(challenge)
        }
        return challenges
    }

    private static func isTokenCharacter(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~/:".utf8).contains(c)
        }
    }
}

/// An http or https URL split the way a client needs it: where to connect and what to ask for.
struct HTTPURL: Equatable, Sendable, CustomStringConvertible {
    /// "http" or "https".
    var scheme: String
    /// Host and port as written ("127.0.0.1:5000", "[::1]:5000", "registry.example"): the Host header.
    var authority: String
    /// The host name or address, without IPv6 brackets.
    var host: String
    var port: Int
    /// Path and query ("/v2/library/alpine/manifests/latest?x=1"), never empty.
    var target: String

    init?(_ text: String) {
        let scheme: String
        let rest: Substring
        if text.lowercased().hasPrefix("https://") {
            scheme = "https"
            rest = text.dropFirst(8)
        } else if text.lowercased().hasPrefix("http://") {
            scheme = "http"
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var target = String(rest[end...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        self.init(scheme: scheme, authority: String(rest[..<end]), target: target)
    }

    init?(scheme: String, authority: String, target: String) {
        guard !authority.isEmpty, !authority.contains("@"), !authority.contains(" ") else { return nil }
        let host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = Substring(authority)
        }
        guard !host.isEmpty else { return nil }
        var port = scheme == "https" ? 443 : 80
        if let portText {
            guard let p = Int(portText), p > 0, p < 65536 else { return nil }
            port = p
        }
        self.scheme = scheme
        self.authority = authority
        self.host = String(host)
        self.port = port
        self.target = target
    }

    var description: String { scheme + "://" + authority + target }

    /// "https://host:port": one connection serves one origin.
    var origin: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Whether `other` is the same host and port (a redirect there may carry Authorization).
    func isSameServer(_ other: HTTPURL) -> Bool {
        host.lowercased() == other.host.lowercased() && port == other.port
    }

    /// A Location header resolved against this URL: absolute, scheme-relative (`//host/x`),
    /// absolute-path (`/v2/...`) or relative to this URL's directory. The query is kept.
    func resolve(_ location: String) -> HTTPURL? {
        if location.lowercased().hasPrefix("http://") || location.lowercased().hasPrefix("https://") {
            return HTTPURL(location)
        }
        if location.hasPrefix("//") { return HTTPURL(scheme + ":" + location) }
        var target = location
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if !target.hasPrefix("/") {
            let path = self.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let directory = path.lastIndex(of: "/").map { path[...$0] } ?? "/"
            target = String(directory) + target
        }
        return HTTPURL(scheme: scheme, authority: authority, target: target)
    }

    /// This URL with `name=value` added to its query.
    func addingQuery(_ name: String, _ value: String) -> HTTPURL {
        var copy = self
        copy.target += (target.contains("?") ? "&" : "?") + name + "=" + HTTPURL.percentEncode(value)
        return copy
    }

    /// Query and form encoding: unreserved characters as is, everything else %XX.
    static func percentEncode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%"
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 15)]))
            }
        }
        return out
    }
}

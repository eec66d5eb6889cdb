
/// A Docker image reference, parsed and normalized exactly as the docker CLI and moby do it
/// (`distribution/reference`: `ParseNormalizedNamed`, `ParseDockerRef`, `FamiliarName`).
///
/// Grammar (hand-written here, no regular expressions):
///
///     reference   := name [ ":" tag ] [ "@" digest ]
///     name        := [ domain "/" ] path-component [ "/" path-component ]*
///     domain      := host [ ":" port ]             host := domain-name | "[" ipv6 "]"
///     domain-name := component [ "." component ]*  component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
///     path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
///     tag         := [\w][\w.-]{0,127}
///     digest      := algorithm ":" [0-9a-fA-F]{32,}  algorithm := [A-Za-z][A-Za-z0-9]* ( [-_+.] [A-Za-z][A-Za-z0-9]* )*
///
/// Normalization: `busybox` is `docker.io/library/busybox:latest`, `user/app` is
/// `docker.io/user/app:latest`, `index.docker.io/...` is `docker.io/...`; a first component
/// with a `.` or `:`, `localhost`, or an uppercase letter is a registry domain.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// The Docker Hub image domain.
    public static let defaultDomain = "docker.io"
    /// The legacy Docker Hub domain, rewritten to `docker.io`.
    public static let legacyDefaultDomain = "index.docker.io"
    /// The Docker Hub namespace of official images.
    public static let officialRepositoryPrefix = "library/"
    public static let defaultTag = "latest"
    /// The longest repository path (without the domain) moby accepts.
    public static let maximumPathLength = 255

    /// The registry, `docker.io` for Docker Hub (never empty).
    public let domain: String
    /// The repository path inside the registry, `library/busybox`.
    public let path: String
    /// The tag as written, nil when none was given (see `normalized` for the default).
    public let tag: String?
    /// The digest as written (`sha256:<hex>`, or `sha384`/`sha512`), nil when none was given.
    public let digest: String?

    init(domain: String, path: String, tag: String?, digest: String?) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// Parses a reference as the docker CLI does (`ParseNormalizedNamed`).
    /// Errors carry moby's words, e.g. "invalid reference format".
    public init(parsing text: String) throws(ImageError) {
        if Grammar.isIdentifier(text.utf8[...]) {
            throw ImageError(.invalidArgument,
                             "invalid repository name (\(text)), cannot specify 64-byte hexadecimal strings")
        }
        let (domain, remainder) = Reference.splitDockerDomain(text)
        let remote = remainder.firstIndex(of: ":").map { remainder[..<$0] } ?? remainder[...]
        if remote.lowercased() != remote {
            throw ImageError(.invalidArgument,
                             "invalid reference format: repository name (\(remote)) must be lowercase")
        }
        self = try Reference.parseCanonical(domain + "/" + remainder)
    }

    /// Parses a fully qualified reference (`Parse` in moby): no defaults are applied.
    static func parseCanonical(_ text: String) throws(ImageError) -> Reference {
        if text.isEmpty {
            throw ImageError(.invalidArgument, "repository name must have at least one component")
        }
        guard let match = Grammar.match(text) else {
            let lower = text.lowercased()
            if lower != text, Grammar.match(lower) != nil {
                throw ImageError(.invalidArgument, "repository name must be lowercase")
            }
            throw ImageError(.invalidArgument, "invalid reference format")
        }
        // moby would keep a name whose first component is no valid domain (`a_b.c/d`) with an
        // empty domain and fail later at the registry; Skiff refuses it here.
        guard !match.domain.isEmpty else {
            throw ImageError(.invalidArgument, "invalid reference format")
        }
        if match.path.utf8.count > maximumPathLength {
            throw ImageError(.invalidArgument,
                             "repository name must not be more than \(maximumPathLength) characters")
        }
        if let digest = match.digest {
            try Reference.validateDigest(digest)
        }
        return Reference(domain: String(match.domain), path: String(match.path),
                         tag: match.tag.map(String.init), digest: match.digest.map(String.init))
    }

    /// True when `text` names its registry (`localhost/x`, `example.com/x`, `host:5000/x`,
    /// `Host/x`); false for a short name that Docker resolves on `docker.io`.
    public static func hasExplicitDomain(_ text: String) -> Bool {
        guard let slash = text.firstIndex(of: "/") else { return false }
        let first = text[..<slash]
        return first == "localhost" || first.contains(".") || first.contains(":") || first.lowercased() != first
    }

    /// moby's `splitDockerDomain`: the domain and the rest (tag and digest included).
    static func splitDockerDomain(_ text: String) -> (domain: String, remainder: String) {
        guard let slash = text.firstIndex(of: "/") else {
            return (defaultDomain, officialRepositoryPrefix + text)
        }
        let first = String(text[..<slash])
        let rest = String(text[text.index(after: slash)...])
        var domain: String
        var remainder: String
        if first == legacyDefaultDomain {
            (domain, remainder) = (defaultDomain, rest)
        } else if hasExplicitDomain(text) {
            (domain, remainder) = (first, rest)
        } else {
            (domain, remainder) = (defaultDomain, text)
        }
        if domain == defaultDomain && !remainder.contains("/") {
            remainder = officialRepositoryPrefix + remainder
        }
        return (domain, remainder)
    }

    /// go-digest's `Digest.Validate` for a digest the grammar accepted: sha256, sha384 and
    /// sha512 (the algorithms Docker registers) need lowercase hex of their exact length.
    static func validateDigest(_ digest: Substring) throws(ImageError) {
        guard let colon = digest.firstIndex(of: ":") else {
            throw ImageError(.invalidArgument, "invalid checksum digest format")
        }
        let algorithm = digest[..<colon]
        let encoded = digest[digest.index(after: colon)...]
        let lengths: [Substring: Int] = ["sha256": 64, "sha384": 96, "sha512": 128]
        guard let length = lengths[algorithm] else {
            // Unknown algorithms: well-formed per go-digest is "unsupported", anything else "invalid".
            let wellFormed = Grammar.isGoDigestAlgorithm(algorithm) && encoded.utf8.allSatisfy(Grammar.isGoDigestEncoded)
            throw ImageError(.invalidArgument, wellFormed ? "unsupported digest algorithm" : "invalid checksum digest format")
        }
        guard encoded.utf8.count == length, encoded.utf8.allSatisfy(Grammar.isLowerHex) else {
            throw ImageError(.invalidArgument, "invalid checksum digest format")
        }
    }

    /// The same repository with `tag` (moby's `WithTag`: a digest is kept).
    public func withTag(_ tag: String) throws(ImageError) -> Reference {
        guard Grammar.isTag(tag.utf8[...]) else { throw ImageError(.invalidArgument, "invalid tag format") }
        return Reference(domain: domain, path: path, tag: tag, digest: digest)
    }

    /// The same repository with `digest` (moby's `WithDigest`: a tag is kept).
    public func withDigest(_ digest: String) throws(ImageError) -> Reference {
        guard Grammar.isDigest(digest.utf8[...]) else { throw ImageError(.invalidArgument, "invalid digest format") }
        try Reference.validateDigest(digest[...])
        return Reference(domain: domain, path: path, tag: tag, digest: digest)
    }

    /// The repository without tag or digest, `docker.io/library/busybox`.
    public var name: String { domain + "/" + path }

    /// Everything as parsed, `name[:tag][@digest]`, without a default tag.
    public var description: String {
        var text = name
        if let tag { text += ":" + tag }
        if let digest { text += "@" + digest }
        return text
    }

    /// What to pull (moby's `ParseDockerRef`): `name@digest` when there is a digest (a tag
    /// beside it is dropped), else `name:tag` with `latest` as the default tag.
    public var normalized: String {
        if let digest { return name + "@" + digest }
        return name + ":" + (tag ?? Reference.defaultTag)
    }

    /// The same reference with the default tag when it has neither tag nor digest (`TagNameOnly`).
    public var withDefaultTag: Reference {
        tag == nil && digest == nil ? Reference(domain: domain, path: path, tag: Reference.defaultTag, digest: nil) : self
    }

    /// The repository as `docker images` shows it: `busybox`, `user/app`, `localhost:5000/x`.
    public var familiarName: String {
        guard domain == Reference.defaultDomain else { return name }
        if path.hasPrefix(Reference.officialRepositoryPrefix) {
            let rest = path.dropFirst(Reference.officialRepositoryPrefix.count)
            if !rest.contains("/") { return String(rest) }
        }
        return path
    }

    /// The familiar name with the tag and digest as parsed (`RepoTags` entries: `busybox:latest`).
    public var familiarString: String {
        var text = familiarName
        if let tag { text += ":" + tag }
        if let digest { text += "@" + digest }
        return text
    }

    /// True for Docker Hub.
    public var isDockerHub: Bool { domain == Reference.defaultDomain }
}

/// The reference grammar as small matchers over UTF-8 bytes.
enum Grammar {
    struct Match {
        var domain: Substring
        var path: Substring
        var tag: Substring?
        var digest: Substring?
    }

    /// Matches the whole reference; the domain is empty when the first component is no domain.
    /// The regular expression's choices are forced: `@` appears only before the digest, and the
    /// name's last component holds no `:`, so a `:` after the last `/` starts the tag.
    static func match(_ text: String) -> Match? {
        let s = text[...]
        var left = s
        var digest: Substring?
        if let at = s.firstIndex(of: "@") {
            left = s[..<at]
            let rest = s[s.index(after: at)...]
            guard isDigest(rest.utf8[...]) else { return nil }
            digest = rest
        }
        var name = left
        var tag: Substring?
        if let colon = left.lastIndex(of: ":") {
            let slash = left.lastIndex(of: "/")
            if slash == nil || colon > slash! {
                let candidate = left[left.index(after: colon)...]
                guard isTag(candidate.utf8[...]) else { return nil }
                tag = candidate
                name = left[..<colon]
            }
        }
        if let slash = name.firstIndex(of: "/") {
            let first = name[..<slash]
            let rest = name[name.index(after: slash)...]
            if isDomain(first.utf8[...]) && isRemoteName(rest.utf8[...]) {
                return Match(domain: first, path: rest, tag: tag, digest: digest)
            }
        }
        guard isRemoteName(name.utf8[...]) else { return nil }
        return Match(domain: name[name.startIndex..<name.startIndex], path: name, tag: tag, digest: digest)
    }

    static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a)
    }

    static func isLetter(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    static func isLowerHex(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= 0x61 && c <= 0x66)
    }

    static func isHex(_ c: UInt8) -> Bool {
        isLowerHex(c) || (c >= 0x41 && c <= 0x46)
    }

    /// `\w`: `[0-9A-Za-z_]`.
    static func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") }

    /// `[a-f0-9]{64}`: an image ID, which may not be used as a name.
    static func isIdentifier(_ s: Substring.UTF8View) -> Bool {
        s.count == 64 && s.allSatisfy(isLowerHex)
    }

    /// `[\w][\w.-]{0,127}`.
    static func isTag(_ s: Substring.UTF8View) -> Bool {
        guard let first = s.first, isWord(first), s.count <= 128 else { return false }
        return s.allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `path-component ("/" path-component)*`.
    static func isRemoteName(_ s: Substring.UTF8View) -> Bool {
        s.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).allSatisfy(isPathComponent)
    }

    /// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`.
    static func isPathComponent(_ s: Substring.UTF8View.SubSequence) -> Bool {
        var separator: [UInt8] = []
        var sawAlnum = false
        for c in s {
            if isLowerAlnum(c) {
                if !separator.isEmpty {
                    guard isSeparator(separator) else { return false }
                    separator.removeAll(keepingCapacity: true)
                }
                sawAlnum = true
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") {
                guard sawAlnum else { return false }
                separator.append(c)
            } else {
                return false
            }
        }
        return sawAlnum && separator.isEmpty
    }

    private static func isSeparator(_ s: [UInt8]) -> Bool {
        let dot = UInt8(ascii: "."), underscore = UInt8(ascii: "_"), dash = UInt8(ascii: "-")
        if s == [dot] || s == [underscore] || s == [underscore, underscore] { return true }
        return s.allSatisfy { $0 == dash }
    }

    /// `host [":" port]`, host a domain name or `[ipv6]` (hex digits and colons).
    static func isDomain(_ s: Substring.UTF8View) -> Bool {
        var hostEnd = s.endIndex
        if s.first == UInt8(ascii: "[") {
            guard let close = s.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let inside = s[s.index(after: s.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") }) else { return false }
            hostEnd = s.index(after: close)
        } else {
            hostEnd = s.firstIndex(of: UInt8(ascii: ":")) ?? s.endIndex
            let labels = s[s.startIndex..<hostEnd].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard labels.allSatisfy(isDomainComponent) else { return false }
        }
        if hostEnd == s.endIndex { return true }
        guard s[hostEnd] == UInt8(ascii: ":") else { return false }
        let port = s[s.index(after: hostEnd)...]
        return !port.isEmpty && port.allSatisfy(isDigit)
    }

    /// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
    static func isDomainComponent(_ s: Substring.UTF8View.SubSequence) -> Bool {
        guard let first = s.first, let last = s.last, isAlnum(first), isAlnum(last) else { return false }
        return s.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// The reference grammar's digest: `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
    static func isDigest(_ s: Substring.UTF8View) -> Bool {
        guard let colon = s.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let hex = s[s.index(after: colon)...]
        guard hex.count >= 32, hex.allSatisfy(isHex) else { return false }
        let separators: [UInt8] = Array("-_+.".utf8)
        let parts = s[s.startIndex..<colon].split(omittingEmptySubsequences: false) { separators.contains($0) }
        return parts.allSatisfy { part in
            guard let first = part.first, isLetter(first) else { return false }
            return part.allSatisfy(isAlnum)
        }
    }

    /// go-digest's algorithm: `[a-z0-9]+([.+_-][a-z0-9]+)*`.
    static func isGoDigestAlgorithm(_ s: Substring) -> Bool {
        let separators: [UInt8] = Array(".+_-".utf8)
        let parts = s.utf8.split(omittingEmptySubsequences: false) { separators.contains($0) }
        return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(isLowerAlnum) }
    }

    /// go-digest's encoded part: `[a-zA-Z0-9=_-]`.
    static func isGoDigestEncoded(_ c: UInt8) -> Bool {
        isAlnum(c) || c == UInt8(ascii: "=") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }
}

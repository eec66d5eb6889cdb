/// A `.dockerignore` (moby's `dockerignore.ReadAll` and patternmatcher): one pattern a line,
/// `#` comments and blank lines skipped, each pattern cleaned as a path (leading `/` dropped, `.`
/// and `..` resolved); `!pattern` re-includes. A path is excluded when the last pattern that
/// matches it or one of its parent directories is not a `!` one.
public struct DockerIgnore: Sendable {
    public struct Rule: Sendable {
        public var pattern: PathPattern
        public var exclusion: Bool
    }

    public var rules: [Rule]

    public init(rules: [Rule] = []) {
        self.rules = rules
    }

    public init(_ text: String) throws(DockerfileError) {
        var rules: [Rule] = []
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix("#") { continue }
            line = Dockerfile.trimBlanks(line)
            if line.isEmpty { continue }
            var exclusion = false
            if line.hasPrefix("!") {
                exclusion = true
                line = Dockerfile.trimBlanks(line.dropFirst())
            }
            var cleaned = DockerIgnore.clean(String(line))
            if cleaned.hasPrefix("/") { cleaned = String(cleaned.drop { $0 == "/" }) }
            if cleaned.isEmpty { cleaned = "." }
            rules.append(Rule(pattern: try PathPattern(cleaned), exclusion: exclusion))
        }
        self.rules = rules
    }

    /// Whether `path` (relative to the context's root, `/`-separated) is left out of the context.
    public func excludes(_ path: String) -> Bool {
        let components = DockerIgnore.clean(path).split(separator: "/").map(String.init)
        guard !components.isEmpty else { return false }
        var parents: [String] = []
        for count in 1..<components.count { parents.append(components.prefix(count).joined(separator: "/")) }
        let full = components.joined(separator: "/")
        var excluded = false
        for rule in rules {
            var matched = rule.pattern.matches(full)
            if !matched { matched = parents.contains { rule.pattern.matches($0) } }
            if matched { excluded = !rule.exclusion }
        }
        return excluded
    }

    /// Whether a `!` rule could re-include something under the directory `path`: then an
    /// excluded directory must still be walked (moby's `Exclusions()` check).
    public var hasExclusions: Bool { rules.contains { $0.exclusion } }

    /// Go's `filepath.Clean` for `/` paths.
    public static func clean(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var out: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if let last = out.last, last != ".." { out.removeLast() }
                else if !absolute { out.append(part) }
                continue
            }
            out.append(part)
        }
        let joined = out.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }
}

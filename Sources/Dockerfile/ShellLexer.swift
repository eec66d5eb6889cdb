/// The builder's word processing (moby's `shell.Lex`): quotes removed, the escape character
/// honoured, `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}` (and their forms without the
/// colon) expanded from `environment`; single quotes expand nothing. Used for the arguments of
/// ADD, COPY, ENV, ARG, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR.
public struct ShellLexer: Sendable {
    public var escape: Character

    public init(escape: Character = "\\") {
        self.escape = escape
    }

    /// `text` as one word (blanks kept).
    public func word(_ text: String, _ environment: [String: String]) throws(DockerfileError) -> String {
        try process(text, environment, split: false).joined()
    }

    /// `text` split into words at unquoted blanks.
    public func words(_ text: String, _ environment: [String: String]) throws(DockerfileError) -> [String] {
        try process(text, environment, split: true)
    }

    private func process(_ text: String, _ environment: [String: String], split: Bool) throws(DockerfileError) -> [String] {
        let chars = Array(text)
        var i = 0
        var words: [String] = []
        var current = ""
        var inWord = false
        func flush() {
            if inWord { words.append(current) }
            current = ""
            inWord = false
        }
        while i < chars.count {
            let c = chars[i]
            if split && (c == " " || c == "\t") {
                flush()
                i += 1
                continue
            }
            if c == "$" {
                // Unquoted, the value is split at its blanks (moby's ProcessWords), and an
                // empty one makes no word.
                let value = try variable(chars, &i, environment)
                for v in value {
                    if split && (v == " " || v == "\t") { flush(); continue }
                    current.append(v)
                    inWord = true
                }
                continue
            }
            inWord = true
            if c == escape {
                i += 1
                if i < chars.count { current.append(chars[i]); i += 1 }
                continue
            }
            if c == "'" {
                i += 1
                var closed = false
                while i < chars.count {
                    if chars[i] == "'" { closed = true; i += 1; break }
                    current.append(chars[i])
                    i += 1
                }
                guard closed else { throw DockerfileError(line: 0, "unexpected end of statement while looking for matching single-quote") }
                continue
            }
            if c == "\"" {
                i += 1
                var closed = false
                while i < chars.count {
                    let d = chars[i]
                    if d == "\"" { closed = true; i += 1; break }
                    if d == escape && i + 1 < chars.count && (chars[i + 1] == "\"" || chars[i + 1] == "$" || chars[i + 1] == escape) {
                        current.append(chars[i + 1])
                        i += 2
                        continue
                    }
                    if d == "$" {
                        current += try variable(chars, &i, environment)
                        continue
                    }
                    current.append(d)
                    i += 1
                }
                guard closed else { throw DockerfileError(line: 0, "unexpected end of statement while looking for matching double-quote") }
                continue
            }
            current.append(c)
            i += 1
        }
        flush()
        return words
    }

    /// `text` with its variables expanded and nothing else changed: quotes and escapes stay as
    /// written, an escaped `$` and a single-quoted one are not expanded (a COPY here-document's
    /// content, as the frontend expands it with raw quotes and escapes).
    public func expandVariables(_ text: String, _ environment: [String: String]) throws(DockerfileError) -> String {
        let chars = Array(text)
        var i = 0
        var result = ""
        var inDouble = false
        while i < chars.count {
            let c = chars[i]
            if c == "\"" { inDouble.toggle() }
            if c == "'" && !inDouble {
                // Up to the closing quote, as written (none: the rest of the text).
                let end = chars[(i + 1)...].firstIndex(of: "'") ?? chars.count - 1
                result += String(chars[i...end])
                i = end + 1
                continue
            }
            if c == escape && i + 1 < chars.count {
                result.append(c)
                result.append(chars[i + 1])
                i += 2
                continue
            }
            if c == "$" {
                result += try variable(chars, &i, environment)
                continue
            }
            result.append(c)
            i += 1
        }
        return result
    }

    /// Expands the variable at `chars[i]` (a `$`), moving `i` past it.
    private func variable(_ chars: [Character], _ i: inout Int, _ environment: [String: String]) throws(DockerfileError) -> String {
        i += 1
        guard i < chars.count else { return "$" }
        if chars[i] == "{" {
            i += 1
            var name = ""
            while i < chars.count, chars[i] == "_" || chars[i].isLetter || chars[i].isNumber {
                name.append(chars[i])
                i += 1
            }
            guard !name.isEmpty else { throw DockerfileError(line: 0, "bad substitution") }
            guard i < chars.count else { throw DockerfileError(line: 0, "missing '}'") }
            if chars[i] == "}" {
                i += 1
                return environment[name] ?? ""
            }
            var colon = false
            if chars[i] == ":" { colon = true; i += 1 }
            guard i < chars.count, chars[i] == "-" || chars[i] == "+" || chars[i] == "?" else {
                throw DockerfileError(line: 0, "unsupported modifier (\(i < chars.count ? String(chars[i]) : "")) in substitution")
            }
            let modifier = chars[i]
            i += 1
            // The word up to the matching `}`, itself expanded.
            var depth = 0
            var inner: [Character] = []
            while i < chars.count {
                if chars[i] == "}" && depth == 0 { break }
                if chars[i] == "{" { depth += 1 }
                if chars[i] == "}" { depth -= 1 }
                inner.append(chars[i])
                i += 1
            }
            guard i < chars.count else { throw DockerfileError(line: 0, "missing '}'") }
            i += 1
            let value = environment[name]
            let isSet = colon ? !(value ?? "").isEmpty : value != nil
            let word = try self.word(String(inner), environment)
            switch modifier {
            case "-": return isSet ? value ?? "" : word
            case "+": return isSet ? word : ""
            default:
                guard isSet else { throw DockerfileError(line: 0, "\(name): \(word.isEmpty ? "is not allowed to be unset" : word)") }
                return value ?? ""
            }
        }
        var name = ""
        while i < chars.count, chars[i] == "_" || chars[i].isLetter || chars[i].isNumber {
            name.append(chars[i])
            i += 1
        }
        if name.isEmpty { return "$" }
        return environment[name] ?? ""
    }

    /// `KEY=value` words (ENV, LABEL, ARG) or, with one word and no `=`, the old `KEY value`
    /// form (ENV and LABEL); the values expanded.
    public func pairs(_ text: String, _ environment: [String: String], keyword: String,
                      allowBare: Bool = false) throws(DockerfileError) -> [(name: String, value: String?)] {
        // Word boundaries are found on the raw text so that a quoted `=` is not a separator.
        let raw = try rawWords(text)
        guard let first = raw.first else { throw DockerfileError(line: 0, "\(keyword) requires at least one argument") }
        if !first.contains("=") && !allowBare {
            // The old form: the first word is the name, the rest of the line the value.
            let name = try word(first, environment)
            let restStart = text.drop { $0 == " " || $0 == "\t" }.dropFirst(first.count)
            let value = try word(String(restStart.drop { $0 == " " || $0 == "\t" }), environment)
            guard raw.count > 1 else { throw DockerfileError(line: 0, "\(keyword) must have two arguments") }
            return [(name, value)]
        }
        var result: [(String, String?)] = []
        for item in raw {
            guard let equals = item.firstIndex(of: "=") else {
                guard allowBare else {
                    throw DockerfileError(line: 0, "Syntax error - can't find = in \"\(item)\". Must be of the form: name=value")
                }
                result.append((try word(item, environment), nil))
                continue
            }
            let name = try word(String(item[..<equals]), environment)
            guard !name.isEmpty else { throw DockerfileError(line: 0, "\(keyword) names can not be blank") }
            result.append((name, try word(String(item[item.index(after: equals)...]), environment)))
        }
        return result
    }

    /// The words of `text` with their quotes and escapes still in place.
    func rawWords(_ text: String) throws(DockerfileError) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var chars = text.makeIterator()
        while let c = chars.next() {
            if let q = quote {
                current.append(c)
                if c == escape && q == "\"", let next = chars.next() { current.append(next); continue }
                if c == q { quote = nil }
                continue
            }
            if c == " " || c == "\t" {
                if !current.isEmpty { words.append(current); current = "" }
                continue
            }
            current.append(c)
            if c == escape, let next = chars.next() { current.append(next); continue }
            if c == "'" || c == "\"" { quote = c }
        }
        guard quote == nil else { throw DockerfileError(line: 0, "unexpected end of statement while looking for matching \(quote == "'" ? "single" : "double")-quote") }
        if !current.isEmpty { words.append(current) }
        return words
    }
}

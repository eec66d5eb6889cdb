/// A parsed Dockerfile, as the classic builder's parser (moby's `parser.Parse`) reads one:
/// parser directives (`# escape=`, `# syntax=`) at the top, comments dropped (also inside a
/// continued instruction), line continuations joined, one `Instruction` per logical line with
/// its flags (`--from=...`) split off and the line it starts on.
public struct Dockerfile: Sendable, Equatable {
    public var escape: Character
    public var instructions: [Instruction]

    /// The instructions the classic builder knows; another is "unknown instruction".
    public static let keywords: Set<String> = [
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    ]

    public struct Flag: Sendable, Equatable {
        public var name: String
        public var value: String?
    }

    public struct Instruction: Sendable, Equatable {
        /// Upper-cased (`RUN`).
        public var keyword: String
        /// `--name=value` options before the arguments (COPY, ADD, FROM, RUN, HEALTHCHECK).
        public var flags: [Flag]
        /// The rest of the line, continuations joined, leading and trailing blanks trimmed.
        public var arguments: String
        /// The first line of the instruction (1-based).
        public var line: Int
        /// The instruction as written, continuations joined (`RUN echo hi`): history and messages.
        public var original: String
        /// RUN, COPY and ADD: the here-documents the line opens, in order, with their content.
        public var heredocs: [Heredoc]

        public init(keyword: String, flags: [Flag] = [], arguments: String, line: Int, original: String,
                    heredocs: [Heredoc] = []) {
            self.keyword = keyword
            self.flags = flags
            self.arguments = arguments
            self.line = line
            self.original = original
            self.heredocs = heredocs
        }

        /// A flag's value (`--from=build` gives "build"); nil when not given.
        public func flag(_ name: String) -> String? {
            flags.last { $0.name == name }.map { $0.value ?? "" }
        }

        /// The arguments as a JSON array of strings (the exec form, `["sh", "-c", "x"]`); nil
        /// when they are not one (the shell form).
        public var jsonForm: [String]? { Dockerfile.jsonArray(arguments) }
    }

    public init(escape: Character = "\\", instructions: [Instruction]) {
        self.escape = escape
        self.instructions = instructions
    }

    /// Parses `text`; throws `DockerfileError` naming the line for what moby's parser refuses.
    public static func parse(_ text: String) throws(DockerfileError) -> Dockerfile {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            line.hasSuffix("\r") ? line.dropLast() : line
        }
        var escape: Character = "\\"
        var index = 0
        var seen: Set<String> = []
        // Directives: `# name=value` lines at the very top; the first other line ends them.
        while index < lines.count {
            guard let (name, value) = directive(lines[index]) else { break }
            guard !seen.contains(name) else {
                throw DockerfileError(line: index + 1, "only one \(name) parser directive can be used")
            }
            seen.insert(name)
            if name == "escape" {
                guard value == "\\" || value == "`" else {
                    throw DockerfileError(line: index + 1, "invalid escape token '\(value)' does not match ` or \\")
                }
                escape = value.first ?? "\\"
            }
            index += 1
        }
        var instructions: [Instruction] = []
        while index < lines.count {
            let line = lines[index]
            let trimmed = trimBlanks(line)
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                index += 1
                continue
            }
            let start = index + 1
            var joined = ""
            var current = Substring(trimmed)
            // A line whose last non-blank character is the escape continues on the next one;
            // comment and empty lines in between are dropped, as moby's parser does.
            while true {
                let stripped = trimTrailingBlanks(current)
                if stripped.last == escape {
                    joined += stripped.dropLast()
                    index += 1
                    var next: Substring?
                    while index < lines.count {
                        let candidate = trimBlanks(lines[index])
                        if candidate.hasPrefix("#") || candidate.isEmpty { index += 1; continue }
                        next = lines[index]
                        break
                    }
                    guard let next else { break }
                    current = trimLeadingBlanks(next)
                } else {
                    joined += stripped
                    index += 1
                    break
                }
            }
            var parsed = try instruction(joined, line: start)
            if ["RUN", "COPY", "ADD"].contains(parsed.keyword) {
                // Here-documents: their content is the lines that follow, up to each terminator.
                for var heredoc in heredocs(in: parsed.arguments) {
                    var terminated = false
                    while index < lines.count {
                        let candidate = lines[index]
                        index += 1
                        if (heredoc.chomp ? candidate.drop(while: { $0 == "\t" }) : candidate) == heredoc.name {
                            terminated = true
                            break
                        }
                        heredoc.content += candidate + "\n"
                    }
                    guard terminated else {
                        throw DockerfileError(line: start, "unterminated heredoc")
                    }
                    parsed.heredocs.append(heredoc)
                }
            }
            instructions.append(parsed)
        }
        return Dockerfile(escape: escape, instructions: instructions)
    }

    /// The here-documents the words of `arguments` open (quotes kept in the words, as the
    /// frontend reads them). An exec form (JSON) opens none.
    static func heredocs(in arguments: String) -> [Heredoc] {
        guard jsonArray(arguments) == nil else { return [] }
        let words = (try? ShellLexer(escape: "\\").rawWords(arguments)) ?? []
        return words.compactMap(Heredoc.marker)
    }

    static func instruction(_ text: String, line: Int) throws(DockerfileError) -> Instruction {
        let keywordEnd = text.firstIndex { $0 == " " || $0 == "\t" } ?? text.endIndex
        let keyword = text[..<keywordEnd].uppercased()
        var rest = trimBlanks(text[keywordEnd...])
        guard keywords.contains(keyword) else {
            throw DockerfileError(line: line, "unknown instruction: \(keyword)")
        }
        var flags: [Flag] = []
        // Flags come first, each `--name[=value]`; a lone `--` ends them.
        if ["ADD", "COPY", "FROM", "RUN", "HEALTHCHECK"].contains(keyword) {
            while rest.hasPrefix("--") {
                let end = rest.firstIndex { $0 == " " || $0 == "\t" } ?? rest.endIndex
                let word = rest[rest.index(rest.startIndex, offsetBy: 2)..<end]
                rest = trimBlanks(rest[end...])
                if word.isEmpty { break }
                if let equals = word.firstIndex(of: "=") {
                    flags.append(Flag(name: String(word[..<equals]), value: String(word[word.index(after: equals)...])))
                } else {
                    flags.append(Flag(name: String(word), value: nil))
                }
            }
        }
        // The flags each instruction takes in the classic builder (moby's BFlags): another is
        // "Unknown flag" (RUN's --mount and --network are BuildKit's).
        let allowed: [String: Set<String>] = [
            "ADD": ["chown", "chmod"], "COPY": ["from", "chown", "chmod"], "FROM": ["platform"], "RUN": [],
            "HEALTHCHECK": ["interval", "timeout", "start-period", "start-interval", "retries"],
        ]
        for flag in flags where !(allowed[keyword]?.contains(flag.name) ?? false) {
            throw DockerfileError(line: line, "Unknown flag: \(flag.name)")
        }
        let arguments = String(rest)
        let needsArguments: Set<String> = ["ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "MAINTAINER", "ONBUILD",
                                           "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "HEALTHCHECK",
                                           "ENTRYPOINT", "CMD"]
        if arguments.isEmpty && needsArguments.contains(keyword) && keyword != "CMD" && keyword != "ENTRYPOINT" {
            let noun = ["ADD", "COPY"].contains(keyword) ? "at least two arguments"
                : (["ENV", "LABEL", "EXPOSE", "VOLUME", "ONBUILD", "RUN"].contains(keyword) ? "at least one argument"
                    : "exactly one argument")
            throw DockerfileError(line: line, "\(keyword) requires \(noun)")
        }
        return Instruction(keyword: keyword, flags: flags, arguments: arguments, line: line,
                           original: keyword + (arguments.isEmpty && flags.isEmpty ? "" : " ")
                               + (flags.map { "--" + $0.name + ($0.value.map { "=" + $0 } ?? "") + " " }.joined()) + arguments)
    }

    /// `# name=value` (the name lower-cased) when `line` is a parser directive.
    static func directive(_ line: Substring) -> (String, String)? {
        var rest = trimBlanks(line)
        guard rest.hasPrefix("#") else { return nil }
        rest = trimBlanks(rest.dropFirst())
        guard let equals = rest.firstIndex(of: "=") else { return nil }
        let name = trimBlanks(rest[..<equals])
        guard let first = name.first, first.isLetter, name.allSatisfy({ $0.isLetter || $0.isNumber }) else { return nil }
        let value = trimBlanks(rest[rest.index(after: equals)...])
        let lower = name.lowercased()
        guard lower == "escape" || lower == "syntax" || lower == "check" else { return nil }
        return (lower, String(value))
    }

    /// A JSON array of strings, as the exec form is written; nil for anything else.
    public static func jsonArray(_ text: String) -> [String]? {
        let trimmed = trimBlanks(Substring(text))
        guard trimmed.hasPrefix("["), trimmed.hasSuffix("]") else { return nil }
        var result: [String] = []
        var chars = Array(trimmed.unicodeScalars)
        chars.removeFirst()
        chars.removeLast()
        var i = 0
        func skipBlanks() { while i < chars.count, [" ", "\t", "\n", "\r"].contains(chars[i]) { i += 1 } }
        skipBlanks()
        if i == chars.count { return [] }
        while true {
            skipBlanks()
            guard i < chars.count, chars[i] == "\"" else { return nil }
            i += 1
            var value = String.UnicodeScalarView()
            var closed = false
            while i < chars.count {
                let c = chars[i]
                if c == "\"" { closed = true; i += 1; break }
                if c == "\\" {
                    i += 1
                    guard i < chars.count else { return nil }
                    switch chars[i] {
                    case "\"": value.append("\"")
                    case "\\": value.append("\\")
                    case "/": value.append("/")
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    case "r": value.append("\r")
                    case "b": value.append("\u{08}")
                    case "f": value.append("\u{0C}")
                    case "u":
                        guard i + 4 < chars.count, let code = UInt32(String(String.UnicodeScalarView(chars[(i + 1)...(i + 4)])), radix: 16),
                              let scalar = Unicode.Scalar(code) else { return nil }
                        value.append(scalar)
                        i += 4
                    default: return nil
                    }
                    i += 1
                    continue
                }
                value.append(c)
                i += 1
            }
            guard closed else { return nil }
            result.append(String(value))
            skipBlanks()
            if i == chars.count { return result }
            guard chars[i] == "," else { return nil }
            i += 1
        }
    }

    static func isBlank(_ c: Character) -> Bool { c == " " || c == "\t" }
    static func trimBlanks(_ s: Substring) -> Substring { trimTrailingBlanks(trimLeadingBlanks(s)) }
    static func trimLeadingBlanks(_ s: Substring) -> Substring { s.drop(while: isBlank) }
    static func trimTrailingBlanks(_ s: Substring) -> Substring {
        var end = s.endIndex
        while end > s.startIndex, isBlank(s[s.index(before: end)]) { end = s.index(before: end) }
        return s[..<end]
    }
}

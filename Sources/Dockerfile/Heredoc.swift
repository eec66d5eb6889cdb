/// A here-document of RUN, COPY or ADD (the Dockerfile frontend 1.4's heredocs): the instruction's
/// line names it with a word `<<NAME` (`<<-NAME` strips leading tabs, `<<'NAME'` or `<<"NAME"`
/// leaves its content unexpanded), and the lines after the instruction up to one that is NAME
/// alone are its content.
public struct Heredoc: Sendable, Equatable {
    /// The terminator, unquoted (`EOF`).
    public var name: String
    /// The lines between the instruction and the terminator, each with its newline.
    public var content: String
    /// Unquoted name: COPY and ADD expand variables in the content.
    public var expand: Bool
    /// `<<-`: leading tabs are stripped from the content's lines and from the terminator's.
    public var chomp: Bool

    public init(name: String, content: String = "", expand: Bool, chomp: Bool) {
        self.name = name
        self.content = content
        self.expand = expand
        self.chomp = chomp
    }

    /// The content as the file or script gets it: with `<<-`, every line's leading tabs removed.
    public var data: String {
        guard chomp else { return content }
        return content.split(separator: "\n", omittingEmptySubsequences: false)
            .map { String($0.drop { $0 == "\t" }) }.joined(separator: "\n")
    }

    /// The heredoc a word opens (`<<EOF`, `<<-"EOF"`, `0<<EOF`); nil for any other word. The rule
    /// is the frontend's: optional digits, `<<`, an optional `-`, then a rest with no `<` that
    /// is one word once its quotes are removed.
    public static func marker(_ word: String) -> Heredoc? {
        var rest = Substring(word).drop { $0.isASCII && $0.isNumber }
        guard rest.hasPrefix("<<") else { return nil }
        rest = rest.dropFirst(2)
        var chomp = false
        if rest.first == "-" {
            chomp = true
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, !rest.contains("<") else { return nil }
        // The name with its quotes removed; quoted anywhere: not expanded.
        var name = ""
        var quoted = false
        var quote: Character?
        var chars = rest.makeIterator()
        while let c = chars.next() {
            if let q = quote {
                if c == q { quote = nil } else { name.append(c) }
                continue
            }
            if c == "'" || c == "\"" {
                quote = c
                quoted = true
                continue
            }
            if c == "\\", let next = chars.next() {
                name.append(next)
                quoted = true
                continue
            }
            if c == " " || c == "\t" { return nil }
            name.append(c)
        }
        guard quote == nil, !name.isEmpty else { return nil }
        return Heredoc(name: name, expand: !quoted, chomp: chomp)
    }
}

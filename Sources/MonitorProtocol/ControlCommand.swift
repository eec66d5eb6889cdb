/// One line on the control socket (`<run>/ctl`): the service writes it, the relay applies it.
public enum ControlCommand: Sendable, Equatable {
    case resize(rows: UInt16, columns: UInt16)

    /// A line longer than this (without its newline) is dropped whole (`SKIFF_CONTROL_LINE_LIMIT`).
    public static let lineLimit = 256

    /// The line with its newline: `resize <rows> <cols>\n`.
    public var line: [UInt8] {
        switch self {
        case .resize(let rows, let columns): return Array("resize \(rows) \(columns)\n".utf8)
        }
    }

    /// A line without its newline (a trailing `\r` is ignored); nil for anything else.
    public init?(line: some StringProtocol) {
        var text = Substring(line)
        if text.hasSuffix("\r") { text = text.dropLast() }
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 3, words[0] == "resize",
              let rows = UInt16(words[1]), let columns = UInt16(words[2]) else { return nil }
        self = .resize(rows: rows, columns: columns)
    }
}

/// The attach socket's first byte: which streams a client wants (docs/containers.md).
public struct AttachMask: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let stdin = AttachMask(rawValue: 1)
    public static let stdout = AttachMask(rawValue: 2)
    public static let stderr = AttachMask(rawValue: 4)

    /// nil for a byte with bits beyond the three streams.
    public init?(byte: UInt8) {
        guard byte & ~7 == 0 else { return nil }
        rawValue = byte
    }
}

/// One line on the control socket.
public enum ControlCommand: Sendable, Equatable {
    case resize(rows: UInt16, columns: UInt16)

    /// `resize <rows> <cols>` (without its newline; a trailing `\r` is ignored); nil otherwise.
    public init?(line: some StringProtocol) {
        var text = Substring(line)
        if text.hasSuffix("\r") { text = text.dropLast() }
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 3, words[0] == "resize",
              let rows = UInt16(words[1]), let columns = UInt16(words[2]) else { return nil }
        self = .resize(rows: rows, columns: columns)
    }
}

/// Splits a byte stream into lines; a line longer than `limit` is dropped whole.
public struct LineSplitter: Sendable {
    public let limit: Int
    private var partial: [UInt8] = []
    private var overlong = false

    public init(limit: Int = 256) { self.limit = limit }

    /// The complete lines in `bytes` (after what came before), without their newlines.
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == 0x0A {
                if !overlong { lines.append(String(decoding: partial, as: UTF8.self)) }
                partial.removeAll(keepingCapacity: false)
                overlong = false
            } else if !overlong {
                partial.append(byte)
                if partial.count > limit {
                    overlong = true
                    partial.removeAll(keepingCapacity: false)
                }
            }
        }
        return lines
    }
}

/// Messages on the sync socket (fd 3, one datagram each).
public enum SyncMessage: Sendable, Equatable {
    /// monitor -> service: the container is created and waits for `start`.
    case created(pid: Int32)
    /// service -> monitor.
    case start
    /// monitor -> service: the program runs.
    case started
    /// monitor -> service: creating or starting failed.
    case error(String)

    public var text: String {
        switch self {
        case .created(let pid): return "created \(pid)"
        case .start: return "start"
        case .started: return "started"
        case .error(let message): return "error \(message)"
        }
    }

    public init?(text: String) {
        if text == "start" {
            self = .start
        } else if text == "started" {
            self = .started
        } else if text.hasPrefix("created "), let pid = Int32(text.dropFirst("created ".count)), pid > 0 {
            self = .created(pid: pid)
        } else if text.hasPrefix("error ") {
            self = .error(String(text.dropFirst("error ".count)))
        } else {
            return nil
        }
    }
}

/// Docker's exit code for a wait status: the status, or 128 + the signal.
public func exitCode(waitStatus status: Int32) -> Int32 {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// A Docker Engine API version, `major.minor`, compared numerically (1.9 < 1.24 < 1.44).
public struct APIVersion: Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    /// The version Skiff implements and reports.
    public static let current = APIVersion(major: 1, minor: 44)
    /// The oldest version Skiff accepts in a `/v1.NN/` prefix (Docker's own minimum).
    public static let minimum = APIVersion(major: 1, minor: 24)

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `1.44`; nil for anything else.
    public init?(_ text: Substring) {
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            guard let parsed = APIVersion.parseASCII(text.utf8) else { return nil }
            self = parsed
            return
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]),
              major >= 0, minor >= 0, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            return nil
        }
        self.init(major: major, minor: minor)
    }

    /// `init?(_:)` for ASCII text, by its bytes (every request with a `/v1.NN` prefix parses
    /// one): digits, one dot, digits; nil when a number overflows, as `Int(_:)` gives.
    private static func parseASCII(_ bytes: Substring.UTF8View) -> APIVersion? {
        var major = 0
        var minor = 0
        var inMinor = false
        var digits = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard !inMinor, digits > 0 else { return nil }
                inMinor = true
                digits = 0
                continue
            }
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let (shifted, overflow) = (inMinor ? minor : major).multipliedReportingOverflow(by: 10)
            let (next, overflowAdding) = shifted.addingReportingOverflow(Int(byte - 0x30))
            guard !overflow, !overflowAdding else { return nil }
            if inMinor { minor = next } else { major = next }
            digits += 1
        }
        guard inMinor, digits > 0 else { return nil }
        return APIVersion(major: major, minor: minor)
    }

    public static func < (a: APIVersion, b: APIVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    public var description: String { "\(major).\(minor)" }
}

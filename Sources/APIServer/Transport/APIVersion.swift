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
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]),
              major >= 0, minor >= 0, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            return nil
        }
        self.init(major: major, minor: minor)
    }

    public static func < (a: APIVersion, b: APIVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    public var description: String { "\(major).\(minor)" }
}

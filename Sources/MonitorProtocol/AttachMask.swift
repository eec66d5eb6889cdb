/// The attach socket's first byte: which streams a client wants (docs/containers.md). The bits
/// are `SKIFF_ATTACH_*` in skiff_protocol.h.
public struct AttachMask: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let stdin = AttachMask(rawValue: 1)
    public static let stdout = AttachMask(rawValue: 2)
    public static let stderr = AttachMask(rawValue: 4)
    public static let all: AttachMask = [.stdin, .stdout, .stderr]

    /// nil for a byte with bits beyond the three streams.
    public init?(byte: UInt8) {
        guard byte & ~AttachMask.all.rawValue == 0 else { return nil }
        rawValue = byte
    }

    /// The byte a client sends first.
    public var byte: UInt8 { rawValue }
}

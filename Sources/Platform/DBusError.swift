/// A D-Bus failure: the bus could not be reached or spoke out of turn, or a peer answered a
/// call with an error (`name`, e.g. "org.freedesktop.systemd1.NoSuchUnit", and its message).
public struct DBusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error name of an error reply; nil for a failure of the connection itself.
    public var name: String?
    public var message: String
    /// True when the bus itself could not be reached or authenticated (no daemon, no socket,
    /// refused): the caller may fall back; a peer's error reply is not this.
    public var unreachable: Bool

    public init(_ message: String, name: String? = nil, unreachable: Bool = false) {
        self.message = message
        self.name = name
        self.unreachable = unreachable
    }

    public var description: String { name.map { "\($0): \(message)" } ?? message }
}

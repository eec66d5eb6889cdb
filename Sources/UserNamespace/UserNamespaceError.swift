/// A failure to map a user namespace: the step and the object in `message`
/// (`"create 3f2a: newuidmap 4242 0 1000 1 ...: newuidmap: write to uid_map failed"`).
public struct UserNamespaceError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The helper (newuidmap, newgidmap) refused the map, or /proc refused the write.
        case permissionDenied
        /// The helper is not installed.
        case notFound
        case system
    }

    public var code: Code
    public var message: String
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}

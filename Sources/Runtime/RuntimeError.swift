/// The one error type of the Runtime module. Syscall failures name the step and the object
/// (`"create 3f2a: rootfs: mount /proc: EPERM"`) and keep the errno.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case invalidArgument
        case notFound
        case exists
        case invalidState
        case permissionDenied
        case unsupported
        case system
    }

    public var code: Code
    public var message: String
    public var errno: Int32?
    /// For failures in the container's child process: which step failed (`skiff_step`).
    public var childStep: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}

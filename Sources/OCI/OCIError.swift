/// The one error type of the OCI module: a config.json or a seccomp profile that cannot be read
/// or does not say what the runtime spec allows. Messages name the file and the field
/// (`config.json: process.user.uid: expected a number, found a string`).
public struct OCIError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The text is not valid JSON, or a field has the wrong shape or value.
        case invalidArgument
        /// The file does not exist.
        case notFound
        case permissionDenied
        /// Any other failure to read the file.
        case system
    }

    public var code: Code
    public var message: String
    /// The errno of a failed read.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { message }
}

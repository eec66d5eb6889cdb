/// The one error type of the Images module (references, digests, manifests, configs, archives,
/// blobs and layers). The API maps `code` to an HTTP status in one switch (APIError.from), the
/// image worker to a `WorkerFailure` kind.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// No such blob or file.
        case notFound
        /// What was given is malformed: a reference, digest, manifest, config, archive or layer.
        case invalidArgument
        /// The operation does not fit the current state (a writer already committed).
        case invalidState
        /// Content is not what it claims to be (a digest mismatch, a damaged blob).
        case corrupt
        /// A file-system, compression or I/O failure.
        case io
    }

    public var code: Code
    public var message: String
    /// The system call's errno when one failed (0 otherwise): lets a caller tell a permission
    /// refusal (EACCES, EPERM) from a missing file without reading the message.
    public var systemErrno: Int32

    public init(_ code: Code, _ message: String, systemErrno: Int32 = 0) {
        self.code = code
        self.message = message
        self.systemErrno = systemErrno
    }

    public var description: String { message }
}

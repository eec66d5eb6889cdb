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

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

import Platform

/// How the image worker (`skiff-image`) tells the service it failed: one JSON object
/// `{"status": N, "message": "..."}` on its descriptor 3. Both ends compile from this type;
/// the service answers each kind with one HTTP status (`status` is that status's code, so the
/// wire form reads as what the client gets).
public struct WorkerFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Int, Sendable, CaseIterable {
        /// The request is wrong: a bad reference, option or archive (400).
        case invalidArgument = 400
        /// No such image, manifest or blob (404).
        case notFound = 404
        /// In use, or in a state that forbids it (409).
        case conflict = 409
        /// Something else the worker could not do: the registry, the disk, the kernel (500).
        case failed = 500
        /// The store is busy beyond its timeout (503).
        case unavailable = 503
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The object the worker writes (one line).
    public var json: JSON {
        .object([JSON.Member("status", .int(Int64(kind.rawValue))), JSON.Member("message", .string(message))])
    }

    /// Reads what a worker wrote; nil when it is not a failure report. A status this side does
    /// not know is `.failed`.
    public init?(json: JSON) {
        guard case .string(let message)? = json["message"] else { return nil }
        var kind = Kind.failed
        if case .int(let value)? = json["status"], let known = Kind(rawValue: Int(value)) { kind = known }
        self.init(kind, message)
    }
}

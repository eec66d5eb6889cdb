/// What an engine operation throws when it refuses or fails: a code saying what kind of
/// failure it is, and the message the client reads. `APIError.from` decides the HTTP status for
/// each code, in one exhaustive switch; engine code never names a status.
public struct EngineError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The request asks for something that cannot be: a malformed or contradictory value.
        case invalidArgument
        /// Credentials are missing or were refused.
        case unauthorized
        /// The operation is refused by policy (a blocked registry).
        case forbidden
        /// The named object does not exist.
        case notFound
        /// The object's state does not allow it (running, paused, in use, name taken).
        case conflict
        /// More than a stated limit.
        case tooLarge
        /// The engine cannot serve it now (stopping, busy); a retry may work.
        case unavailable
        /// Something failed inside: a system call, a helper process, stored state.
        case `internal`
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

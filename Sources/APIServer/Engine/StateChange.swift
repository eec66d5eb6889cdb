/// Whether an operation changed the container or found it already so (Docker answers the
/// second with 304 for start and stop).
enum StateChange: Sendable, Equatable {
    case changed
    case alreadyDone
}

/// Why a container could not be created or started, as the monitor reports it to the service:
/// the step that failed, the errno (0 when there is none) and a sentence for the client
/// (`exec: "foo": executable file not found in $PATH`). The service derives Docker's answer from
/// the step and the errno (`ContainerLifecycle.failStart`), never from the sentence.
public struct StartFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where it failed.
    public enum Step: String, Sendable, CaseIterable {
        /// The monitor's own set-up: its arguments, the run directory, its sockets, fork.
        case monitor
        /// Creating the container outside its process (the runtime's parent side).
        case create
        /// Setting up the container's process before its program (namespaces, identity, ...).
        case child
        /// A mount in the container's process (its root, a volume, a bind).
        case mount
        /// Finding the program (at create) or executing it (at start).
        case exec
        /// Starting the created container.
        case start
    }

    public var step: Step
    public var errno: Int32
    public var message: String

    public init(_ step: Step, errno: Int32 = 0, _ message: String) {
        self.step = step
        self.errno = errno
        self.message = message
    }

    public var description: String { message }
}

/// A Dockerfile or .dockerignore that cannot be used: the message is Docker's, and `line` the
/// Dockerfile line it is about (1-based; 0 when none).
public struct DockerfileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line > 0 ? "dockerfile parse error line \(line): \(message)" : message }
}

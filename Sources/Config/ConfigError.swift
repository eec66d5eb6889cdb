/// The one error type of the Config module.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        /// A file that must exist (named by an environment variable) does not.
        case missingFile
        /// A file could not be read.
        case unreadable
        /// A file is not valid TOML.
        case malformed
        /// A key has a value of the wrong type.
        case invalidValue
    }

    public var code: Code
    public var file: String
    public var line: Int?
    public var message: String

    public init(_ code: Code, file: String, line: Int? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.message = message
    }

    /// `path:line: message`, the way compilers report.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// Something worth telling the user that does not stop Skiff: an unknown key, say.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public var description: String { "\(file):\(line): \(message)" }
}

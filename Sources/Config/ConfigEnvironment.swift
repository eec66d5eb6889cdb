#if canImport(Glibc)
import Glibc
#endif

/// What the configuration depends on besides the files: who runs Skiff and its environment.
/// Tests build one by hand; the program uses `current()`.
public struct ConfigEnvironment: Sendable {
    public var uid: UInt32
    public var user: String
    public var home: String
    public var variables: [String: String]
    /// System configuration directories, lowest precedence first.
    public var systemDirectories: [String]

    public static let defaultSystemDirectories = ["/usr/share/containers", "/etc/containers"]

    public init(uid: UInt32, user: String, home: String, variables: [String: String],
                systemDirectories: [String] = ConfigEnvironment.defaultSystemDirectories) {
        self.uid = uid
        self.user = user
        self.home = home
        self.variables = variables
        self.systemDirectories = systemDirectories
    }

    /// The running process's user and environment.
    public static func current() -> ConfigEnvironment {
        var variables: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let pair = String(cString: pointer)
            if let eq = pair.firstIndex(of: "=") {
                variables[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            entry += 1
        }
        let uid = getuid()
        var user = variables["USER"] ?? ""
        var home = variables["HOME"] ?? ""
        if let pw = getpwuid(uid) {
            if user.isEmpty { user = String(cString: pw.pointee.pw_name) }
            if home.isEmpty { home = String(cString: pw.pointee.pw_dir) }
        }
        if home.isEmpty { home = "/" }
        return ConfigEnvironment(uid: uid, user: user, home: home, variables: variables)
    }

    public var isRoot: Bool { uid == 0 }

    /// A variable's value, or nil when unset or empty.
    public func variable(_ name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`, with where it came from.
    var configHome: (path: String, origin: Origin) {
        if let dir = variable("XDG_CONFIG_HOME") { return (dir, .environment("XDG_CONFIG_HOME")) }
        return (home + "/.config", .environment("HOME"))
    }

    /// `$XDG_DATA_HOME`, else `~/.local/share`.
    var dataHome: (path: String, origin: Origin) {
        if let dir = variable("XDG_DATA_HOME") { return (dir, .environment("XDG_DATA_HOME")) }
        return (home + "/.local/share", .environment("HOME"))
    }

    /// `$XDG_RUNTIME_DIR`, else `/run/user/UID`.
    public var runtimeDirectory: (path: String, origin: Origin) {
        if let dir = variable("XDG_RUNTIME_DIR") { return (dir, .environment("XDG_RUNTIME_DIR")) }
        return ("/run/user/\(uid)", .builtin)
    }

    /// Expands `$HOME`, `$UID` and `$USER` (also as `${...}`), as containers/storage does for
    /// `rootless_storage_path`. Other text is left as written.
    public func expand(_ text: String) -> String {
        var out = text
        for (name, value) in [("HOME", home), ("UID", String(uid)), ("USER", user)] {
            out = out.replacingOccurrences("${\(name)}", value)
            out = out.replacingOccurrences("$\(name)", value)
        }
        return out
    }
}

extension String {
    /// Plain substring replacement without Foundation.
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}

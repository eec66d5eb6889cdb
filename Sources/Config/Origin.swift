/// Where an effective configuration value came from.
public enum Origin: Sendable, Equatable, CustomStringConvertible {
    /// Skiff's built-in default (Podman's, where Podman has one).
    case builtin
    /// A configuration file and the line of the key.
    case file(path: String, line: Int)
    /// Derived from an environment variable (`XDG_DATA_HOME`, `XDG_RUNTIME_DIR`, ...).
    case environment(String)
    /// Derived from another setting, e.g. the storage root from `rootless_storage_path`.
    indirect case derived(from: String, Origin)

    /// In the style of `git config --show-origin`.
    public var description: String {
        switch self {
        case .builtin: return "builtin"
        case .file(let path, let line): return "file:\(path):\(line)"
        case .environment(let name): return "env:\(name)"
        case .derived(let key, let origin): return "\(origin) (\(key))"
        }
    }
}

/// One effective value and the place that set it.
public struct Setting: Sendable, Equatable {
    public var value: Value
    public var origin: Origin

    public init(_ value: Value, _ origin: Origin) {
        self.value = value
        self.origin = origin
    }
}

import CSELinux
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// The thin libselinux layer: is SELinux on, and where is the contexts file. Everything else is
/// `SELinuxLabel.Selector`, which needs neither.
public enum SELinux {
    /// container-selinux's file, which go-selinux reads first.
    public static let containersContextsPath = "/usr/share/containers/selinux/contexts"

    /// `is_selinux_enabled()`: 1 with selinuxfs mounted and a policy loaded. 0 (no selinuxfs) or
    /// -1 (error) both mean labels are not applied.
    public static var isEnabled: Bool { is_selinux_enabled() == 1 }

    /// The policy's `lxc_contexts` file (`/etc/selinux/targeted/contexts/lxc_contexts`).
    public static var policyContextsPath: String? {
        guard let path = selinux_lxc_contexts_path() else { return nil }
        return String(cString: path)
    }

    /// The text of the first contexts file that exists (container-selinux's, then the policy's),
    /// or nil when neither does; go-selinux then has no labels to give either.
    public static func contextsText() throws -> String? {
        for path in [containersContextsPath, policyContextsPath].compactMap({ $0 }) {
            if let text = try readTextFile(path) { return text }
        }
        return nil
    }

    /// A small text file's contents; nil when it does not exist.
    static func readTextFile(_ path: String) throws -> String? {
        do {
            return String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
            throw RuntimeError(.system, "selinux: \(error.operation) \(path): errno \(error.errno)", errno: error.errno)
        }
    }
}

extension SELinuxLabel {
    /// The labels of a new container on this host, from `--security-opt label=...` values.
    ///
    /// The options are checked even when SELinux is off, so a bad option fails the same way on
    /// every host; then, with SELinux off, the result is `.none`.
    public static func forContainer(options: [String], inUse: Set<String>,
                                    kind: Kind = .container) throws -> SELinuxLabel {
        let parsed = try Option.parse(options)
        guard SELinux.isEnabled else { return .none }
        let contexts = SELinuxContexts(parsing: try SELinux.contextsText() ?? "")
        var random = SystemRandomNumberGenerator()
        return try Selector(contexts: contexts).label(options: parsed, inUse: inUse, kind: kind, using: &random)
    }
}

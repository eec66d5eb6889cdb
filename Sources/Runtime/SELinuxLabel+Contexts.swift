/// One SELinux context, `user:role:type[:level]`, the level itself possibly holding colons
/// (`s0:c1,c2`), as go-selinux's `NewContext` splits it.
public struct SELinuxContext: Sendable, Hashable, CustomStringConvertible {
    public var user: String
    public var role: String
    public var type: String
    /// The MLS/MCS level (`s0`, `s0:c12,c345`), nil when the policy has none.
    public var level: String?

    public init(user: String, role: String, type: String, level: String? = nil) {
        self.user = user
        self.role = role
        self.type = type
        self.level = level
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw RuntimeError(.invalidArgument, "invalid SELinux context \"\(text)\": want user:role:type[:level]")
        }
        user = String(parts[0])
        role = String(parts[1])
        type = String(parts[2])
        level = parts.count > 3 && !parts[3].isEmpty ? String(parts[3]) : nil
    }

    public var description: String {
        if let level { return "\(user):\(role):\(type):\(level)" }
        return "\(user):\(role):\(type)"
    }

    /// The level of a label string, without validating the rest (go-selinux's reserve/release
    /// look at the fourth field the same way).
    public static func level(of label: String) -> String? {
        let parts = label.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        return parts.count > 3 && !parts[3].isEmpty ? String(parts[3]) : nil
    }
}

/// The container contexts file: `/usr/share/containers/selinux/contexts` (container-selinux), or
/// the policy's `lxc_contexts`. Lines are `key = "context"`; blank lines and lines starting
/// with `#` or `;` are skipped; quotes around the value are dropped; a line without `=` is
/// ignored — go-selinux `loadLabels` reads it the same way.
public struct SELinuxContexts: Sendable, Equatable {
    /// Every key of the file with its (unquoted) value, including keys we have no use for
    /// (`content`, `sandbox_kvm_process`, ...).
    public var values: [String: String]

    public init(values: [String: String] = [:]) { self.values = values }

    public init(parsing text: String) {
        var values: [String: String] = [:]
        // `isNewline`, not == "\n": "\r\n" is one Character.
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingSpaces
            guard let first = line.first, first != "#", first != ";" else { continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingSpaces
            var value = line[line.index(after: eq)...].trimmingSpaces
            while value.first == "\"" { value = value.dropFirst() }
            while value.last == "\"" { value = value.dropLast() }
            values[String(key)] = String(value)
        }
        self.values = values
    }

    private func value(_ key: String) -> String? {
        guard let v = values[key], !v.isEmpty else { return nil }
        return v
    }

    /// `process`: the label of an ordinary container's processes (`container_t`).
    public var process: String? { value("process") }
    /// `file`: the label of the container's files and mounts (`container_file_t`).
    public var file: String? { value("file") }
    /// `ro_file`, falling back to `file` as go-selinux does.
    public var readOnlyFile: String? { value("ro_file") ?? file }
    /// `kvm_process`, falling back to `process`.
    public var kvmProcess: String? { value("kvm_process") ?? process }
    /// `init_process` (systemd in a container), falling back to `process`.
    public var initProcess: String? { value("init_process") ?? process }
    /// `engine_process`: an engine running inside a container (`container_engine_t`).
    public var engineProcess: String? { value("engine_process") }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}

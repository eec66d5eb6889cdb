import Platform

/// Why a container's refused syscalls are refused (docs/denials.md), worked out by the service
/// when it writes the bundle (it knows the profile's file and rule indices, the capabilities
/// and the settings that chose them, with their origins) and kept beside config.json as
/// `denials.json`. The monitor turns it into the relay's table by syscall number
/// (`SKIFF_RUN_DENIAL_REASONS`, `relayTable`), its events carry a reason's attributes, and
/// `skiff explain` prints its text next to each record.
public struct DenialReasons: Sendable, Equatable {
    public static let fileName = "denials.json"

    public struct Reason: Sendable, Equatable {
        public enum Kind: String, Sendable {
            /// A rule of the profile refuses it (`SCMP_ACT_ERRNO`).
            case rule
            /// No rule allows it: the profile's defaultAction.
            case defaultAction = "default"
            /// A rule allows it only with a capability the container lacks.
            case capability
        }
        public var kind: Kind
        /// `CAP_SYS_CHROOT` for `.capability`.
        public var capability: String?
        /// The deciding setting: `default_capabilities`, `--cap-drop`, `seccomp profile`.
        public var setting: String
        /// Where it was set: `/home/u/.config/containers/containers.conf:2`, `HostConfig.CapDrop`,
        /// `/usr/share/containers/seccomp.json rule 12`.
        public var origin: String
        /// One line for a person.
        public var text: String

        public init(kind: Kind, capability: String? = nil, setting: String, origin: String, text: String) {
            self.kind = kind
            self.capability = capability
            self.setting = setting
            self.origin = origin
            self.text = text
        }

        /// The reason for a `docker exec --privileged` process: it has every capability, but it
        /// runs under the container's seccomp filter, which was made for the container's.
        public func forPrivilegedExec() -> Reason {
            var reason = self
            if kind == .capability, let capability {
                reason.text += " (the exec is privileged and has \(capability), but it runs under the container's "
                    + "seccomp filter, made for the container's capabilities)"
            } else {
                reason.text += " (the exec is privileged: the container's seccomp filter applies to it all the same)"
            }
            return reason
        }

        var json: JSON {
            var members = [JSON.Member("kind", .string(kind.rawValue))]
            if let capability { members.append(JSON.Member("capability", .string(capability))) }
            members += [JSON.Member("setting", .string(setting)), JSON.Member("origin", .string(origin)),
                        JSON.Member("text", .string(text))]
            return .object(members)
        }

        init?(json: JSON) {
            guard case .string(let kindText)? = json["kind"], let kind = Kind(rawValue: kindText),
                  case .string(let setting)? = json["setting"], case .string(let origin)? = json["origin"],
                  case .string(let text)? = json["text"] else { return nil }
            var capability: String?
            if case .string(let value)? = json["capability"] { capability = value }
            self.init(kind: kind, capability: capability, setting: setting, origin: origin, text: text)
        }
    }

    /// The container's name (for the hint's `skiff explain NAME`).
    public var container: String
    /// The hint on the log when the container exits non-zero after a denial
    /// (containers.conf `denial_hint`).
    public var hint: Bool
    /// For a syscall no entry names.
    public var fallback: Reason
    /// By syscall name.
    public var syscalls: [String: Reason]
    /// `--security-opt seccomp-learn=FILE`: the profile the supervisor writes when a run ends.
    public var learn: String?

    public init(container: String, hint: Bool, fallback: Reason, syscalls: [String: Reason]) {
        self.container = container
        self.hint = hint
        self.fallback = fallback
        self.syscalls = syscalls
    }

    public func reason(for syscall: String) -> Reason { syscalls[syscall] ?? fallback }

    public var bytes: [UInt8] {
        JSON.object([
            JSON.Member("container", .string(container)), JSON.Member("hint", .bool(hint)),
            JSON.Member("default", fallback.json),
            JSON.Member("syscalls", .object(syscalls.keys.sorted().map { JSON.Member($0, syscalls[$0]!.json) })),
        ] + (learn.map { [JSON.Member("learn", .string($0))] } ?? [])).bytes
    }

    public init?(bytes: [UInt8]) {
        guard let json = try? JSONParser.parse(bytes), case .string(let container)? = json["container"],
              let fallbackJSON = json["default"], let fallback = Reason(json: fallbackJSON),
              case .object(let members)? = json["syscalls"] else { return nil }
        var hint = true
        if case .bool(let value)? = json["hint"] { hint = value }
        var syscalls: [String: Reason] = [:]
        for member in members {
            guard let reason = Reason(json: member.value) else { return nil }
            syscalls[member.key] = reason
        }
        self.init(container: container, hint: hint, fallback: fallback, syscalls: syscalls)
        if case .string(let path)? = json["learn"] { learn = path }
    }

    public static func read(bundle: String) -> DenialReasons? {
        guard let bytes = try? FileSystem.readFile(bundle + "/" + fileName, limit: 4 << 20) else { return nil }
        return DenialReasons(bytes: bytes)
    }

    /// The relay's table (`SKIFF_RUN_DENIAL_REASONS`, read by CRelay's notify.c and `skiff
    /// explain`): `hint 0|1`, `container NAME`, a `NR<TAB>NAME<TAB>TEXT` line per syscall of
    /// `names` (TEXT empty: the default's), and `*<TAB><TAB>TEXT` for the default. Tabs and
    /// newlines in texts become spaces.
    public func relayTable(names: [Int32: String]) -> String {
        func clean(_ text: String) -> String {
            String(text.map { $0 == "\t" || $0 == "\n" ? " " : $0 })
        }
        var lines = ["hint \(hint ? 1 : 0)", "container \(clean(container))"]
        for nr in names.keys.sorted() {
            let name = names[nr]!
            lines.append("\(nr)\t\(name)\t\(syscalls[name].map { clean($0.text) } ?? "")")
        }
        lines.append("*\t\t\(clean(fallback.text))")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// One refused syscall as the relay records it in `<run>/denials`:
/// `<RFC 3339 time>\t<audit arch, hex>\t<nr>\t<errno>\t<pid>`, and for an exec'd process
/// `\t<exec id's first 12>\t<privileged 0|1>` after; a run whose records were limited ends with
/// `#dropped\t<count>`.
public struct DenialRecord: Sendable, Equatable {
    public static let fileName = "denials"
    /// What the monitor has already sent as events: the byte offset in `denials`.
    public static let eventedName = "denials.evented"

    public var time: String
    public var architecture: UInt32
    public var number: Int32
    public var errno: Int32
    public var pid: Int32
    /// The exec whose process was refused (its id's first `execIDLength` characters); nil: the
    /// container's own process or one it started.
    public var execID: String?
    /// The exec was `--privileged` (every capability, the container's filter).
    public var privileged = false

    /// What a record keeps of an exec's id (`SKIFF_NOTIFY_EXEC_ID_LENGTH`).
    public static let execIDLength = 12

    public init(time: String, architecture: UInt32, number: Int32, errno: Int32, pid: Int32,
                execID: String? = nil, privileged: Bool = false) {
        self.time = time
        self.architecture = architecture
        self.number = number
        self.errno = errno
        self.pid = pid
        self.execID = execID
        self.privileged = privileged
    }

    /// Whether this is a record of exec `id` (a full id or a prefix as long as a record's).
    public func belongs(toExec id: String) -> Bool {
        guard let execID, !execID.isEmpty else { return false }
        return id.hasPrefix(execID) && execID.count == min(id.count, DenialRecord.execIDLength)
    }

    /// The records of `text` and the count of those dropped by the limits.
    public static func parse(_ text: Substring) -> (records: [DenialRecord], dropped: Int) {
        var records: [DenialRecord] = []
        var dropped = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            if fields.count == 2, fields[0] == "#dropped", let count = Int(fields[1]) {
                dropped += count
                continue
            }
            guard fields.count == 5 || fields.count == 7, let arch = UInt32(fields[1], radix: 16),
                  let nr = Int32(fields[2]), let err = Int32(fields[3]), let pid = Int32(fields[4]) else { continue }
            var record = DenialRecord(time: String(fields[0]), architecture: arch, number: nr, errno: err, pid: pid)
            if fields.count == 7 {
                guard !fields[5].isEmpty, fields[6] == "0" || fields[6] == "1" else { continue }
                record.execID = String(fields[5])
                record.privileged = fields[6] == "1"
            }
            records.append(record)
        }
        return (records, dropped)
    }
}

/// Errno names for denials (the relay's hint, events, `skiff explain`).
public enum DenialText {
    public static func errnoName(_ value: Int32) -> String {
        switch value {
        case 0: "success (0)"
        case 1: "EPERM"
        case 2: "ENOENT"
        case 13: "EACCES"
        case 22: "EINVAL"
        case 38: "ENOSYS"
        case 95: "EOPNOTSUPP"
        case 97: "EAFNOSUPPORT"
        default: "errno \(value)"
        }
    }
}

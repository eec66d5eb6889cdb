/// A container's SELinux labels, chosen the way Podman 4.3 chooses them (go-selinux v1.10
/// `label.InitLabels` + `ContainerLabels`, and libpod's `processLabel` for systemd/KVM
/// containers): the process label from the contexts file's `process` key, the mount label from
/// its `file` key, both with the same random MCS level `s0:cX,cY` (0 <= X < Y <= 1023) that no
/// other container holds.
///
/// The runtime's child writes `processLabel` to `/proc/thread-self/attr/exec` before exec; the
/// mount label goes into `context=` mount options and the OCI `linux.mountLabel`. When SELinux
/// is off, both are nil and there is nothing to do.
public struct SELinuxLabel: Sendable, Equatable {
    /// The label the container's processes run with; nil when SELinux is off or labeling is
    /// disabled for this container.
    public var processLabel: String?
    /// The label of the container's files and mounts.
    public var mountLabel: String?
    /// The MCS level this container now holds: the caller adds it to the set in use and gives it
    /// back when the container is removed. Nil when nothing was reserved.
    public var level: String?

    public init(processLabel: String? = nil, mountLabel: String? = nil, level: String? = nil) {
        self.processLabel = processLabel
        self.mountLabel = mountLabel
        self.level = level
    }

    /// SELinux off: no labels, nothing reserved.
    public static let none = SELinuxLabel()

    /// The level go-selinux reserves for `label=disable` mounts (the two highest categories), so
    /// no confined container is ever given it.
    public static let privilegedLevel = "s0:c\(categoryCount - 2),c\(categoryCount - 1)"

    /// Categories c0...c1023, go-selinux's `maxCategory`.
    public static let categoryCount = 1024

    /// What runs in the container: chooses the process type, as libpod's `processLabel()` does.
    public enum Kind: Sendable, Equatable {
        /// An ordinary container: `process`.
        case container
        /// systemd as the container's init (`--systemd`): the type of `init_process`.
        case systemd
        /// A KVM-isolated runtime (kata, krun): the type of `kvm_process`.
        case kvm
    }

    /// One `--security-opt label=...` value (without the `label=` prefix).
    public enum Option: Sendable, Hashable, CustomStringConvertible {
        /// No process label; the mount label becomes the file label at `privilegedLevel`.
        case disable
        case user(String)
        case role(String)
        case type(String)
        /// Replaces the random level in both labels; reserved but not required to be unique
        /// (containers of a pod may share one).
        case level(String)
        /// The type of the mount label.
        case filetype(String)

        /// The options Podman 4.3 accepts: `disable`, `user:U`, `role:R`, `type:T`, `level:L`,
        /// `filetype:T` (`nested` came in Podman 4.5 and is not accepted).
        public init(parsing text: String) throws {
            if text == "disable" { self = .disable; return }
            guard let colon = text.firstIndex(of: ":") else { throw Self.badOption(text) }
            let key = text[..<colon]
            let value = String(text[text.index(after: colon)...])
            let make: (String) -> Option
            switch key {
            case "user": make = Option.user
            case "role": make = Option.role
            case "type": make = Option.type
            case "level": make = Option.level
            case "filetype": make = Option.filetype
            default: throw Self.badOption(text)
            }
            if value.isEmpty {
                throw RuntimeError(.invalidArgument, "SELinux label option \"\(text)\" needs a value")
            }
            if key != "level", value.contains(":") {
                throw RuntimeError(.invalidArgument,
                                   "SELinux label option \"\(text)\": a \(key) cannot contain \":\"")
            }
            self = make(value)
        }

        /// Every option of a `--security-opt label=` list, or the first bad one's error.
        public static func parse(_ texts: [String]) throws -> [Option] {
            try texts.map(Option.init(parsing:))
        }

        /// The options that make a second container share `processLabel`'s context (Podman's
        /// `--pid container:X` / `--ipc container:X`, go-selinux `DupSecOpt`).
        public static func duplicating(processLabel: String) throws -> [Option] {
            let c = try SELinuxContext(parsing: processLabel)
            var options: [Option] = [.user(c.user), .role(c.role), .type(c.type)]
            if let level = c.level { options.append(.level(level)) }
            return options
        }

        public var description: String {
            switch self {
            case .disable: "disable"
            case .user(let v): "user:\(v)"
            case .role(let v): "role:\(v)"
            case .type(let v): "type:\(v)"
            case .level(let v): "level:\(v)"
            case .filetype(let v): "filetype:\(v)"
            }
        }

        private static func badOption(_ text: String) -> RuntimeError {
            RuntimeError(.invalidArgument,
                         "bad SELinux label option \"\(text)\": valid options are disable, user:USER, "
                             + "role:ROLE, type:TYPE, level:LEVEL, filetype:TYPE")
        }
    }

    /// The pure choice of labels: no kernel, no files, no global state. The caller passes the
    /// contexts file's text, the levels of every existing container, and a random source.
    public struct Selector: Sendable {
        public var contexts: SELinuxContexts

        public init(contexts: SELinuxContexts) { self.contexts = contexts }
        public init(contextsText: String) { contexts = SELinuxContexts(parsing: contextsText) }

        /// The labels of a new container.
        ///
        /// - Parameters:
        ///   - inUse: the MCS levels other containers hold (`SELinuxContext.level(of:)` of their
        ///     labels); a random level is never one of them, nor `privilegedLevel`.
        public func label(options: [Option], inUse: Set<String>, kind: Kind = .container,
                          using random: inout some RandomNumberGenerator) throws -> SELinuxLabel {
            if options.contains(.disable) {
                // go-selinux returns at the first "disable" even among other options.
                return SELinuxLabel(processLabel: nil, mountLabel: try privilegedMountLabel())
            }
            // Without both a process and a file context there is nothing to confine with:
            // go-selinux's ContainerLabels returns no process label and the bare file label.
            guard let process = contexts.process, let file = contexts.file else {
                return SELinuxLabel(processLabel: nil, mountLabel: contexts.file)
            }
            var pcon = try SELinuxContext(parsing: process)
            var mcon = try SELinuxContext(parsing: file)
            var reserved: String?
            // A policy without MLS has contexts without a level: then no categories are added.
            if pcon.level != nil {
                let mcs = try Self.uniqueLevel(inUse: inUse, using: &random)
                pcon.level = mcs
                mcon.level = mcs
                reserved = mcs
            }
            var typeGiven = false
            for option in options {
                switch option {
                case .disable: break
                case .user(let u): pcon.user = u; mcon.user = u
                case .role(let r): pcon.role = r
                case .type(let t): pcon.type = t; typeGiven = true
                case .level(let l): pcon.level = l; mcon.level = l; reserved = l
                case .filetype(let t): mcon.type = t
                }
            }
            // libpod swaps in the init/KVM type unless the user chose a type. (Podman 4.3 looks
            // for "type:" in the joined options, so "filetype:" suppresses the swap there too;
            // we look at `type:` only.)
            if !typeGiven {
                switch kind {
                case .container: break
                case .systemd: pcon.type = try SELinuxContext(parsing: contexts.initProcess ?? process).type
                case .kvm: pcon.type = try SELinuxContext(parsing: contexts.kvmProcess ?? process).type
                }
            }
            return SELinuxLabel(processLabel: pcon.description, mountLabel: mcon.description, level: reserved)
        }

        /// The mount label of a `label=disable` container: the file context at `privilegedLevel`.
        public func privilegedMountLabel() throws -> String? {
            guard let file = contexts.file else { return nil }
            var con = try SELinuxContext(parsing: file)
            con.level = SELinuxLabel.privilegedLevel
            return con.description
        }

        /// A random `s0:cX,cY` (X < Y) not in `inUse` and not `privilegedLevel`: random draws as
        /// go-selinux's `uniqMcs` does, then, should the set be nearly full, a scan from a random
        /// point so the search always ends.
        static func uniqueLevel(inUse: Set<String>, using random: inout some RandomNumberGenerator) throws -> String {
            let n = UInt64(SELinuxLabel.categoryCount)
            func level(_ a: UInt64, _ b: UInt64) -> String { "s0:c\(min(a, b)),c\(max(a, b))" }
            func isFree(_ l: String) -> Bool { l != SELinuxLabel.privilegedLevel && !inUse.contains(l) }
            for _ in 0..<1024 {
                let a = random.next(upperBound: n), b = random.next(upperBound: n)
                if a == b { continue }
                let l = level(a, b)
                if isFree(l) { return l }
            }
            let start = random.next(upperBound: n)
            for offset in 0..<n {
                let a = (start + offset) % n
                for b in (a + 1)..<n {
                    let l = level(a, b)
                    if isFree(l) { return l }
                }
            }
            throw RuntimeError(.exists, "no free SELinux MCS level: all category pairs are in use")
        }
    }
}

import Platform
import Glibc

/// A seccomp profile in the JSON format Docker and Podman share (moby `profiles/seccomp`,
/// containers/common `pkg/seccomp`): a default action, the architectures to add, and syscall
/// rules that apply only when their `includes`/`excludes` conditions (capabilities,
/// architectures, kernel version) hold for the container.
///
/// Parsing checks everything that can be checked without libseccomp; `oci(for:)`
/// (`SeccompProfile+Selection.swift`) keeps the rules that apply to one container as the OCI
/// `linux.seccomp` object, which the runtime's `Seccomp.compile` turns into a BPF program.
public struct SeccompProfile: Sendable, Equatable {
    /// What to do when a rule matches (the `SCMP_ACT_*` names of the JSON).
    public enum Action: String, Sendable, CaseIterable {
        case kill = "SCMP_ACT_KILL"
        case killProcess = "SCMP_ACT_KILL_PROCESS"
        case killThread = "SCMP_ACT_KILL_THREAD"
        case trap = "SCMP_ACT_TRAP"
        case errno = "SCMP_ACT_ERRNO"
        case trace = "SCMP_ACT_TRACE"
        case allow = "SCMP_ACT_ALLOW"
        case log = "SCMP_ACT_LOG"
        case notify = "SCMP_ACT_NOTIFY"

        /// Only these actions carry a number (the errno returned, or the tracer's message).
        public var takesErrno: Bool { self == .errno || self == .trace }
    }

    /// How an argument is compared (`SCMP_CMP_*`). For `maskedEqual`, `value` is the mask and
    /// `valueTwo` the expected result of `arg & mask`.
    public enum Operator: String, Sendable, CaseIterable {
        case notEqual = "SCMP_CMP_NE"
        case lessThan = "SCMP_CMP_LT"
        case lessOrEqual = "SCMP_CMP_LE"
        case equal = "SCMP_CMP_EQ"
        case greaterOrEqual = "SCMP_CMP_GE"
        case greaterThan = "SCMP_CMP_GT"
        case maskedEqual = "SCMP_CMP_MASKED_EQ"
    }

    public struct Argument: Sendable, Equatable {
        /// 0...5: which syscall argument.
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64
        public var op: Operator

        public init(index: UInt32, value: UInt64, valueTwo: UInt64 = 0, op: Operator) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }
    }

    /// A kernel version as profiles compare it: only "major.minor" counts
    /// (`6.1.25-generic` and `6.1-1-amd64` are both 6.1).
    public struct KernelVersion: Sendable, Comparable, CustomStringConvertible {
        public var major: UInt32
        public var minor: UInt32

        public init(major: UInt32, minor: UInt32) {
            self.major = major
            self.minor = minor
        }

        /// Reads the leading "major.minor" of a `uname -r` release string.
        public init?(release: String) {
            let parts = release.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, let major = UInt32(parts[0]) else { return nil }
            let minorDigits = parts[1].prefix { $0.isASCII && $0.isNumber }
            guard let minor = UInt32(minorDigits) else { return nil }
            self.init(major: major, minor: minor)
        }

        /// The running kernel's version, from uname(2).
        public static func host() -> KernelVersion? {
            var names = utsname()
            guard uname(&names) == 0 else { return nil }
            let release = withUnsafeBytes(of: &names.release) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return KernelVersion(release: release)
        }

        public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
            (a.major, a.minor) < (b.major, b.minor)
        }

        public var description: String { "\(major).\(minor)" }
    }

    /// The conditions of `includes` (all must hold) and `excludes` (any one excludes the rule).
    public struct Filter: Sendable, Equatable {
        /// Capability names, normalized to `CAP_XXX`.
        public var caps: [String]
        /// Architectures as Go and libseccomp-golang spell them: `amd64`, `arm64`, `x86`, `s390x`...
        public var arches: [String]
        public var minKernel: KernelVersion?

        public init(caps: [String] = [], arches: [String] = [], minKernel: KernelVersion? = nil) {
            self.caps = caps.map(SeccompProfile.normalizedCapability)
            self.arches = arches
            self.minKernel = minKernel
        }

        public var isEmpty: Bool { caps.isEmpty && arches.isEmpty && minKernel == nil }
    }

    /// One entry of `syscalls`.
    public struct Rule: Sendable, Equatable {
        public var names: [String]
        public var action: Action
        /// The errno (ERRNO) or message (TRACE); nil means the runtime default, EPERM.
        public var errnoRet: UInt16?
        /// All must match. Several conditions on the same argument are ORed instead (each
        /// becomes its own rule), as crun and runc do.
        public var args: [Argument]
        public var includes: Filter
        public var excludes: Filter
        public var comment: String

        public init(names: [String], action: Action, errnoRet: UInt16? = nil, args: [Argument] = [],
                    includes: Filter = Filter(), excludes: Filter = Filter(), comment: String = "") {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
            self.includes = includes
            self.excludes = excludes
            self.comment = comment
        }
    }

    /// An `archMap` entry: when `architecture` is the native one, it and its sub-architectures
    /// (the 32-bit ABIs a 64-bit kernel also runs) are added to the filter.
    public struct ArchitectureMap: Sendable, Equatable {
        public var architecture: String
        public var subArchitectures: [String]

        public init(architecture: String, subArchitectures: [String] = []) {
            self.architecture = architecture
            self.subArchitectures = subArchitectures
        }
    }

    /// Where the profile came from (a file path, or "default"); every error names it.
    public var source: String
    public var defaultAction: Action
    public var defaultErrnoRet: UInt16?
    /// The legacy `architectures` list (`SCMP_ARCH_*`), all added. Exclusive with `archMap`.
    public var architectures: [String]
    public var archMap: [ArchitectureMap]
    public var syscalls: [Rule]
    /// `SECCOMP_FILTER_FLAG_*` names: they are load-time flags, not part of the program.
    public var flags: [String]

    public init(source: String, defaultAction: Action, defaultErrnoRet: UInt16? = nil,
                architectures: [String] = [], archMap: [ArchitectureMap] = [],
                syscalls: [Rule] = [], flags: [String] = []) {
        self.source = source
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.archMap = archMap
        self.syscalls = syscalls
        self.flags = flags
    }

    /// The load-time flags a profile may name (runc and crun accept the same three).
    public static let knownFlags: Set<String> = [
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ]

    /// `sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` all name the same capability.
    public static func normalizedCapability(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }

    // MARK: - Loading

    /// Reads and parses a profile file (e.g. `containers.conf`'s `seccomp_profile`).
    public static func load(path: String) throws(OCIError) -> SeccompProfile {
        let bytes = try readFile(path)
        return try parse(bytes, source: path)
    }

    /// Parses profile JSON; `source` names it in error messages.
    public static func parse(_ json: some Collection<UInt8>, source: String) throws(OCIError) -> SeccompProfile {
        let value: JSON
        do {
            value = try JSONParser.parse(Array(json))
        } catch {
            throw OCIError(.invalidArgument, "seccomp profile \(source): not valid JSON: \(error.message)")
        }
        return try parse(json: value, source: source)
    }

    /// Reads a profile already parsed (OCI `linux.seccomp` arrives this way).
    public static func parse(json value: JSON, source: String) throws(OCIError) -> SeccompProfile {
        try Reader(source: source).profile(from: JSONValue(value))
    }

    /// Parses profile JSON given as a string.
    public static func parse(_ json: String, source: String) throws(OCIError) -> SeccompProfile {
        try parse(Array(json.utf8), source: source)
    }

    private static func readFile(_ path: String) throws(OCIError) -> [UInt8] {
        do {
            return try FileSystem.readFile(path)
        } catch {
            let code: OCIError.Code = switch error.errno {
            case ENOENT: .notFound
            case EACCES, EPERM: .permissionDenied
            default: .system
            }
            throw OCIError(code, "seccomp profile \(path): \(error.operation): \(errnoName(error.errno))", errno: error.errno)
        }
    }
}

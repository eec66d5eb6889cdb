#if canImport(Glibc)
import Glibc
#endif

// Rule selection, done once, by the engine that writes the bundle (moby's and Podman's
// `setupSeccomp`): the OCI `linux.seccomp` object keeps only the rules whose conditions hold for
// the container's capabilities, this machine's architecture and its kernel.

extension SeccompProfile {
    /// What a profile is chosen for: the container's capabilities, the architecture and the
    /// kernel, which decide which rules apply.
    public struct Target: Sendable, Equatable {
        /// Normalized to `CAP_XXX`.
        public var capabilities: Set<String>
        /// Go spelling (`amd64`), as `Filter.arches` uses.
        public var architecture: String
        /// nil: rules with a `minKernel` condition are treated as if the kernel were older.
        public var kernel: KernelVersion?

        public init(capabilities: some Sequence<String>, architecture: String, kernel: KernelVersion?) {
            self.capabilities = Set(capabilities.map(SeccompProfile.normalizedCapability))
            self.architecture = architecture
            self.kernel = kernel
        }

        /// A container holding `capabilities` on this machine and its running kernel.
        public static func host(capabilities: some Sequence<String>) -> Target {
            Target(capabilities: capabilities, architecture: hostArchitecture(), kernel: .host())
        }

        /// This machine's architecture in the profiles' (Go's) spelling, from uname(2).
        public static func hostArchitecture() -> String {
            var names = utsname()
            guard uname(&names) == 0 else { return "amd64" }
            let machine = withUnsafeBytes(of: &names.machine) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return architecture(machine: machine)
        }

        /// `uname -m` to the spelling profiles use in `arches` (libseccomp-golang's).
        public static func architecture(machine: String) -> String {
            switch machine {
            case "x86_64": "amd64"
            case "aarch64": "arm64"
            case "i386", "i486", "i586", "i686": "x86"
            case "armv6l", "armv7l", "armv8l": "arm"
            default: machine   // ppc64le, s390x, riscv64, mips64... are spelled alike
            }
        }
    }

    /// libseccomp's `SCMP_ARCH_*` name for an architecture in the profiles' spelling.
    public static func libseccompArchitecture(_ architecture: String) -> String {
        switch architecture {
        case "amd64": "SCMP_ARCH_X86_64"
        case "arm64": "SCMP_ARCH_AARCH64"
        case "mipsel64": "SCMP_ARCH_MIPSEL64"
        default: "SCMP_ARCH_" + architecture.uppercased()
        }
    }

    /// The rules that apply to `target`, in profile order: a rule is dropped when any
    /// `excludes` condition holds, or when any `includes` condition does not (Podman's and
    /// moby's `setupSeccomp`).
    public func rules(for target: Target) -> [Rule] {
        syscalls.filter { SeccompProfile.applies($0, to: target) }
    }

    /// Whether `rule` is kept for `target` (`rules(for:)`'s test, for one rule).
    public static func applies(_ rule: Rule, to target: Target) -> Bool {
        let ex = rule.excludes
        if ex.arches.contains(target.architecture) { return false }
        if ex.caps.contains(where: target.capabilities.contains) { return false }
        if let min = ex.minKernel, let kernel = target.kernel, kernel >= min { return false }

        let inc = rule.includes
        if !inc.arches.isEmpty && !inc.arches.contains(target.architecture) { return false }
        if !inc.caps.allSatisfy(target.capabilities.contains) { return false }
        if let min = inc.minKernel {
            guard let kernel = target.kernel, kernel >= min else { return false }
        }
        return true
    }

    /// The architectures a filter for `architecture` adds: the legacy `architectures` list, or
    /// the `archMap` entry of that architecture with its sub-architectures (none when no entry
    /// names it).
    public func architectures(for architecture: String) -> [String] {
        if !architectures.isEmpty { return architectures }
        let native = SeccompProfile.libseccompArchitecture(architecture)
        guard let entry = archMap.first(where: { $0.architecture == native }) else { return [] }
        return [entry.architecture] + entry.subArchitectures
    }

    /// The OCI `linux.seccomp` object for `target`: the default action, the architectures and
    /// flags, and the rules that apply, without their conditions.
    public func oci(for target: Target) -> Spec.Seccomp {
        Spec.Seccomp(
            defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet,
            architectures: architectures(for: target.architecture), flags: flags,
            syscalls: rules(for: target).map {
                Spec.Seccomp.Syscall(names: $0.names, action: $0.action, errnoRet: $0.errnoRet, args: $0.args)
            })
    }
}

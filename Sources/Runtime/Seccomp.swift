import CLinux
import CSeccomp
import Glibc
import OCI
import Platform

/// Compiles the OCI `linux.seccomp` of a container (the rules an engine chose for it,
/// `SeccompProfile.oci(for:)` in the OCI module) into the BPF program the kernel runs, with
/// libseccomp, the way crun's `libcrun_generate_seccomp` does:
///
/// - rules are added in order. libseccomp keeps the first unconditional rule for a syscall and
///   ignores later ones, so order matters;
/// - a rule whose action is the default action is skipped (libseccomp refuses it);
/// - several conditions on the same argument become separate rules (ORed), as in crun and runc;
/// - a syscall name libseccomp does not know at all is skipped and reported in
///   `Program.skippedSyscalls`, unless `Options.failOnUnknownSyscall` is set. crun does the
///   same (it warns; its `run.oci.seccomp_fail_unknown_syscall` annotation makes it fail), and
///   runc skips silently: Docker's and Podman's profiles name syscalls newer than the
///   libseccomp of many hosts. Names that exist on another architecture only are not unknown:
///   libseccomp resolves them to pseudo numbers and places them per architecture itself.
///
/// The result is the raw `struct sock_filter` array; the child loads it with
/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)` after no_new_privs (or holding
/// CAP_SYS_ADMIN), as late as possible before exec.
public enum Seccomp {
    public struct Options: Sendable {
        /// Fail with `unknown syscall "name"` instead of skipping names libseccomp cannot resolve.
        public var failOnUnknownSyscall: Bool

        public init(failOnUnknownSyscall: Bool = false) {
            self.failOnUnknownSyscall = failOnUnknownSyscall
        }
    }

    public struct Program: Sendable, Equatable {
        /// The `struct sock_filter` array (8 bytes per instruction), native byte order.
        public var bytes: [UInt8]
        /// Load-time `SECCOMP_FILTER_FLAG_*` names from the profile (need seccomp(2) to apply).
        public var flags: [String]
        /// Syscall names skipped because libseccomp does not know them (warn about these).
        public var skippedSyscalls: [String]

        public var instructionCount: Int { bytes.count / 8 }
    }

    /// libseccomp's architecture names and the Go spellings profiles use in `arches`.
    static let architectureNames: [(libseccomp: String, go: String)] = [
        ("x86_64", "amd64"), ("x86", "x86"), ("x32", "x32"), ("arm", "arm"), ("aarch64", "arm64"),
        ("mips", "mips"), ("mipsel", "mipsel"), ("mips64", "mips64"), ("mipsel64", "mipsel64"),
        ("mips64n32", "mips64n32"), ("mipsel64n32", "mipsel64n32"), ("ppc", "ppc"), ("ppc64", "ppc64"),
        ("ppc64le", "ppc64le"), ("s390", "s390"), ("s390x", "s390x"), ("parisc", "parisc"),
        ("parisc64", "parisc64"), ("riscv64", "riscv64"),
    ]

    /// The native architecture as profiles spell it (`amd64`, `arm64`...), or nil if unknown.
    public static func nativeArchitecture() -> String? {
        let native = seccomp_arch_native()
        return architectureNames.first { seccomp_arch_resolve_name($0.libseccomp) == native }?.go
    }

    /// libseccomp's token for `SCMP_ARCH_X86_64`-style names; nil if it does not know the name.
    static func architectureToken(_ name: String) -> UInt32? {
        var short = Substring(name)
        if short.hasPrefix("SCMP_ARCH_") { short = short.dropFirst("SCMP_ARCH_".count) }
        let lower = short.lowercased()
        if lower == "native" { return seccomp_arch_native() }
        let token = seccomp_arch_resolve_name(lower)
        return token == 0 ? nil : token
    }

    /// Compiles `seccomp` (from `source`, which errors name) for the native architecture.
    public static func compile(_ seccomp: Spec.Seccomp, source: String,
                               options: Options = Options()) throws(RuntimeError) -> Program {
        func failure(_ code: RuntimeError.Code, _ what: String, errno: Int32? = nil) -> RuntimeError {
            RuntimeError(code, "seccomp profile \(source): \(what)", errno: errno)
        }
        let rules = seccomp.syscalls

        guard seccomp.defaultAction != .notify else {
            throw failure(.unsupported, "defaultAction SCMP_ACT_NOTIFY is not supported (Skiff runs no seccomp agent)")
        }
        let defaultAction = actionValue(seccomp.defaultAction, seccomp.defaultErrnoRet)
        guard let ctx = seccomp_init(defaultAction) else {
            throw failure(.system, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }

        for name in seccomp.architectures {
            guard let token = architectureToken(name) else {
                throw failure(.invalidArgument, "unknown architecture \"\(name)\"")
            }
            let rc = seccomp_arch_add(ctx, token)
            if rc < 0 && rc != -EEXIST {
                throw failure(.system, "add architecture \(name): \(SeccompProfile.errnoName(-rc))", errno: -rc)
            }
        }

        // A binary tree instead of a linear list of comparisons when there are many syscalls
        // (runc does this above 32; libseccomp 2.5.4 and older misbehave with no rules at all).
        if rules.reduce(0, { $0 + $1.names.count }) > 32 {
            _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        }

        var skipped: [String] = []
        for rule in rules {
            if rule.action == .notify {
                throw failure(.unsupported, "SCMP_ACT_NOTIFY (for \(rule.names.map { "\"\($0)\"" }.joined(separator: ", "))) is not supported (Skiff runs no seccomp agent)")
            }
            let action = actionValue(rule.action, rule.errnoRet)
            if action == defaultAction { continue }
            let conditions = argumentGroups(rule.args)
            for name in rule.names {
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR {
                    if options.failOnUnknownSyscall {
                        throw failure(.invalidArgument, "unknown syscall \"\(name)\"")
                    }
                    if !skipped.contains(name) { skipped.append(name) }
                    continue
                }
                for group in conditions {
                    let rc = group.withUnsafeBufferPointer { buffer in
                        seccomp_rule_add_array(ctx, action, number, UInt32(buffer.count), buffer.baseAddress)
                    }
                    if rc < 0 {
                        throw failure(.invalidArgument, "rule for \"\(name)\": \(SeccompProfile.errnoName(-rc))", errno: -rc)
                    }
                }
            }
        }
        let bytes = try export(ctx, failure: failure)
        return Program(bytes: bytes, flags: seccomp.flags, skippedSyscalls: skipped)
    }

    // MARK: - Steps

    static func actionValue(_ action: SeccompProfile.Action, _ errnoRet: UInt16?) -> UInt32 {
        switch action {
        case .kill, .killThread: SCMP_ACT_KILL_THREAD
        case .killProcess: SCMP_ACT_KILL_PROCESS
        case .trap: SCMP_ACT_TRAP
        case .errno: skiff_scmp_act_errno(errnoRet ?? UInt16(EPERM))
        case .trace: skiff_scmp_act_trace(errnoRet ?? UInt16(EPERM))
        case .allow: SCMP_ACT_ALLOW
        case .log: SCMP_ACT_LOG
        case .notify: SCMP_ACT_NOTIFY
        }
    }

    /// One condition list per rule to add: all conditions in one rule, or, when an argument is
    /// compared more than once, one rule per condition. No conditions: one empty list.
    static func argumentGroups(_ args: [SeccompProfile.Argument]) -> [[scmp_arg_cmp]] {
        let conditions = args.map { arg in
            scmp_arg_cmp(arg: arg.index, op: compareOperator(arg.op), datum_a: arg.value, datum_b: arg.valueTwo)
        }
        let indices = args.map(\.index)
        if Set(indices).count == indices.count { return [conditions] }
        return conditions.map { [$0] }
    }

    static func compareOperator(_ op: SeccompProfile.Operator) -> scmp_compare {
        switch op {
        case .notEqual: SCMP_CMP_NE
        case .lessThan: SCMP_CMP_LT
        case .lessOrEqual: SCMP_CMP_LE
        case .equal: SCMP_CMP_EQ
        case .greaterOrEqual: SCMP_CMP_GE
        case .greaterThan: SCMP_CMP_GT
        case .maskedEqual: SCMP_CMP_MASKED_EQ
        }
    }

    /// libseccomp writes the program to a file descriptor: a memfd, read back whole.
    static func export(_ ctx: scmp_filter_ctx,
                       failure: (RuntimeError.Code, String, Int32?) -> RuntimeError) throws(RuntimeError) -> [UInt8] {
        let fd = skiff_memfd_create("skiff-seccomp", UInt32(MFD_CLOEXEC))
        guard fd >= 0 else {
            let err = errno
            throw failure(.system, "memfd_create: \(SeccompProfile.errnoName(err))", err)
        }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else {
            throw failure(.system, "seccomp_export_bpf: \(SeccompProfile.errnoName(-rc))", -rc)
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { raw in Syscall.retrying { pread(fd, raw.baseAddress, raw.count, offset) } }
            if n < 0 {
                let err = errno
                throw failure(.system, "read the exported program: \(SeccompProfile.errnoName(err))", err)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
        guard !bytes.isEmpty, bytes.count % 8 == 0 else {
            throw failure(.system, "libseccomp exported \(bytes.count) bytes, not a whole BPF program", nil)
        }
        return bytes
    }
}

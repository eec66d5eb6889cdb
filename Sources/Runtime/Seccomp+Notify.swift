import CSeccomp
import Glibc

/// Explained denials (docs/denials.md): the container's filter with its refusals sent to the
/// supervisor. Every `SECCOMP_RET_ERRNO` return of the compiled program (a rule's
/// `SCMP_ACT_ERRNO`, or the default action) becomes `SECCOMP_RET_USER_NOTIF`; every other
/// instruction stays, so an allowed syscall runs the same program to the same `ALLOW` and never
/// leaves the kernel. The supervisor runs the original program on the notification's
/// seccomp_data (CRelay's notify.c) and answers with its errno.
extension Seccomp {
    /// The spec annotation the engine sets when the container's denials are to be explained.
    public static let explainAnnotation = "run.skiff.explain-denials"

    static let returnConstant: UInt16 = 0x06          // BPF_RET | BPF_K
    static let actionMask: UInt32 = 0xffff_0000       // SECCOMP_RET_ACTION_FULL
    static let errnoAction: UInt32 = 0x0005_0000      // SECCOMP_RET_ERRNO
    static let userNotifAction: UInt32 = 0x7fc0_0000  // SECCOMP_RET_USER_NOTIF

    /// `program` with its ERRNO returns made USER_NOTIF; nil when it has none (nothing it
    /// refuses with an errno: no listener is needed).
    public static func notifying(_ program: [UInt8]) -> [UInt8]? {
        guard program.count % 8 == 0 else { return nil }
        var result = program
        var changed = false
        for offset in stride(from: 0, to: program.count, by: 8) {
            let code = UInt16(program[offset]) | UInt16(program[offset + 1]) << 8
            guard code == returnConstant else { continue }
            let k = UInt32(program[offset + 4]) | UInt32(program[offset + 5]) << 8
                | UInt32(program[offset + 6]) << 16 | UInt32(program[offset + 7]) << 24
            guard k & actionMask == errnoAction else { continue }
            for i in 0..<4 { result[offset + 4 + i] = UInt8(truncatingIfNeeded: userNotifAction >> (8 * UInt32(i))) }
            changed = true
        }
        return changed ? result : nil
    }
}

extension Seccomp {
    /// The native architecture's syscall names by number, from libseccomp (`seccomp_syscall_
    /// resolve_num_arch`), for the explanations' tables and events.
    public static func nativeSyscallNames() -> [Int32: String] {
        var names: [Int32: String] = [:]
        let arch = seccomp_arch_native()
        for nr in Int32(0)..<Int32(1024) {
            guard let pointer = seccomp_syscall_resolve_num_arch(arch, nr) else { continue }
            names[nr] = String(cString: pointer)
            free(pointer)
        }
        return names
    }

    /// The name of syscall `number` on the audit architecture `architecture` (libseccomp's
    /// tokens are the AUDIT_ARCH values seccomp_data carries); nil when libseccomp has none.
    public static func syscallName(_ number: Int32, architecture: UInt32) -> String? {
        guard let pointer = seccomp_syscall_resolve_num_arch(architecture, number) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

/// Learning a profile (`--security-opt seccomp-learn=FILE`, docs/denials.md): every syscall goes
/// to the supervisor, which lets it go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and notes it once.
extension Seccomp {
    /// The spec annotation naming the profile to learn.
    public static let learnAnnotation = "run.skiff.seccomp-learn"

    static func instruction(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) -> [UInt8] {
        [UInt8(code & 0xff), UInt8(code >> 8), jt, jf,
         UInt8(k & 0xff), UInt8((k >> 8) & 0xff), UInt8((k >> 16) & 0xff), UInt8(k >> 24)]
    }

    /// `SECCOMP_RET_ALLOW` for everything: the "original" the supervisor runs while learning.
    public static let allowAll: [UInt8] = instruction(0x06, 0, 0, 0x7fff_0000)

    /// What the runtime itself calls once the learning filter is loaded and before anyone can
    /// answer: sendmsg of the listener, then, after `ready` while the supervisor waits for
    /// `start`, the exec.fifo's open, write and close, close_range and execve. These go on
    /// unnoted, and every learned profile allows them.
    public static let learningPassThrough = ["sendmsg", "openat", "write", "close", "close_range", "execve"]

    /// Every syscall notified but `learningPassThrough` on the native architecture.
    public static func learningProgram() -> [UInt8] {
        let native = seccomp_arch_native()
        let numbers = learningPassThrough.map { seccomp_syscall_resolve_name($0) }.filter { $0 >= 0 }.map { UInt32($0) }
        let n = numbers.count
        var program = instruction(0x20, 0, 0, 4)                      // A = arch
            + instruction(0x15, 0, UInt8(n + 1), native)              // native? next : notify
            + instruction(0x20, 0, 0, 0)                              // A = nr
        for (i, number) in numbers.enumerated() {
            program += instruction(0x15, UInt8(n - i), 0, number)     // one of them? allow : next
        }
        program += instruction(0x06, 0, 0, userNotifAction)
        program += instruction(0x06, 0, 0, 0x7fff_0000)
        return program
    }
}

extension LaunchPlan {
    /// Explained denials and learning (docs/denials.md), as the spec's annotations ask: the
    /// filter becomes the notifying one (or the learning one) and the child sends its listener.
    /// Returns the original program the supervisor answers with; nil (the plan unchanged) when
    /// nothing is to be explained: no annotation, no filter, or one that refuses nothing with an
    /// errno. The container's process and every exec'd one go through here with the same spec.
    mutating func explainDenials(annotations: [String: String]?) -> [UInt8]? {
        if annotations?[Seccomp.learnAnnotation] != nil {
            seccompOriginal = Seccomp.allowAll
            seccomp = Seccomp.learningProgram()
            return Seccomp.allowAll
        }
        guard annotations?[Seccomp.explainAnnotation] == "true", let program = seccomp,
              let notifying = Seccomp.notifying(program) else { return nil }
        seccompOriginal = program
        seccomp = notifying
        return program
    }
}

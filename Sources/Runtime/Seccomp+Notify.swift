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

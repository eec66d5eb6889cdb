import OCI
import Testing

@testable import Runtime

/// Explained denials: the notifying program differs from the container's only where the latter
/// returns SECCOMP_RET_ERRNO, so allowed syscalls take the same path to the same ALLOW.
@Suite struct SeccompNotifyTests {
    static func instructions(_ bytes: [UInt8]) -> [(code: UInt16, k: UInt32)] {
        stride(from: 0, to: bytes.count, by: 8).map { o in
            (UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8,
             UInt32(bytes[o + 4]) | UInt32(bytes[o + 5]) << 8 | UInt32(bytes[o + 6]) << 16 | UInt32(bytes[o + 7]) << 24)
        }
    }

    @Test func onlyErrnoReturnsBecomeUserNotif() throws {
        let original = try Seccomp.compileDefault(capabilities: ["CAP_CHOWN"]).bytes
        let notifying = try #require(Seccomp.notifying(original))
        #expect(notifying.count == original.count)
        var rewritten = 0
        for (before, after) in zip(Self.instructions(original), Self.instructions(notifying)) {
            #expect(before.code == after.code)
            if before.code == 0x06 && before.k & 0xffff_0000 == 0x0005_0000 {
                #expect(after.k == 0x7fc0_0000)
                rewritten += 1
            } else {
                #expect(before.k == after.k)
            }
        }
        #expect(rewritten > 0)
    }

    @Test func aProgramThatRefusesNothingWithAnErrnoNeedsNoListener() throws {
        var profile = try DefaultSeccompProfile.profile()
        profile.defaultAction = .allow
        profile.syscalls = [SeccompProfile.Rule(names: ["reboot"], action: .killProcess, errnoRet: nil, args: [],
                                                includes: .init(), excludes: .init(), comment: "")]
        let program = try Seccomp.compile(profile.oci(for: .host(capabilities: [])), source: "test")
        #expect(Seccomp.notifying(program.bytes) == nil)
    }

    @Test func syscallNamesComeFromLibseccomp() {
        let names = Seccomp.nativeSyscallNames()
        #expect(names.values.contains("chroot"))
        #expect(names.values.contains("mount"))
        #if arch(x86_64)
        #expect(Seccomp.syscallName(161, architecture: 0xc000_003e) == "chroot")   // AUDIT_ARCH_X86_64
        #endif
    }

    /// Learning: every syscall notified but the runtime's own last calls, which go on.
    @Test func theLearningProgramNotifiesAllButThePassThrough() {
        let program = Self.instructions(Seccomp.learningProgram())
        let n = Seccomp.learningPassThrough.count
        #expect(program.count == n + 5)
        #expect(program[n + 3].code == 0x06 && program[n + 3].k == 0x7fc0_0000)   // USER_NOTIF
        #expect(program[n + 4].code == 0x06 && program[n + 4].k == 0x7fff_0000)   // ALLOW
        // Each pass-through comparison jumps to the ALLOW.
        for i in 0..<n {
            let jump = Seccomp.learningProgram()[(3 + i) * 8 + 2]
            #expect(3 + i + 1 + Int(jump) == n + 4)
        }
        #expect(Self.instructions(Seccomp.allowAll).map(\.k) == [0x7fff_0000])
    }
}

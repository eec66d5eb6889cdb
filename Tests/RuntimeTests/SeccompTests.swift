import CLinux
import Glibc
import OCI
import Testing

@testable import Runtime

@Suite struct SeccompTests {
    /// Podman's default capability set (containers.conf `default_capabilities`).
    static let podmanDefaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
    ]

    /// Every capability Linux 6.x knows.
    static let allCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    // MARK: - Compiling

    @Test(arguments: [("podman defaults", Self.podmanDefaultCapabilities), ("all", Self.allCapabilities), ("none", [])])
    func compilesDefaultProfile(_ label: String, _ caps: [String]) throws {
        let program = try Seccomp.compileDefault(capabilities: caps)
        #expect(program.instructionCount > 100)
        #expect(program.skippedSyscalls == [])
    }

    @Test func capabilitiesChangeTheProgram() throws {
        let podman = try Seccomp.compileDefault(capabilities: Self.podmanDefaultCapabilities)
        let all = try Seccomp.compileDefault(capabilities: Self.allCapabilities)
        let again = try Seccomp.compileDefault(capabilities: Self.podmanDefaultCapabilities.reversed())
        #expect(podman.bytes != all.bytes)
        #expect(podman.bytes == again.bytes)
    }

    static let unknownSyscallProfile = #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "foo", "_llseek"], "action": "SCMP_ACT_ALLOW"}]}"#

    @Test func unknownSyscallFailsWhenStrict() throws {
        let profile = try SeccompProfile.parse(Self.unknownSyscallProfile, source: "test.json")
        let error = #expect(throws: RuntimeError.self) {
            try Seccomp.compile(profile, capabilities: [], options: .init(failOnUnknownSyscall: true))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == #"seccomp profile test.json: unknown syscall "foo""#)
    }

    /// crun's and runc's default: skip (and report) what libseccomp cannot resolve. `_llseek`
    /// exists on 32-bit ABIs only and is no unknown name.
    @Test func unknownSyscallIsSkippedAndReportedByDefault() throws {
        let profile = try SeccompProfile.parse(Self.unknownSyscallProfile, source: "test.json")
        let program = try Seccomp.compile(profile, capabilities: [])
        #expect(program.skippedSyscalls == ["foo"])
    }

    @Test(arguments: [
        (#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#,
         "seccomp profile n.json: defaultAction SCMP_ACT_NOTIFY is not supported (Skiff runs no seccomp agent)"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["open", "openat"], "action": "SCMP_ACT_NOTIFY"}]}"#,
         #"seccomp profile n.json: SCMP_ACT_NOTIFY (for "open", "openat") is not supported (Skiff runs no seccomp agent)"#),
    ])
    func notifyIsRejected(_ json: String, _ message: String) throws {
        let profile = try SeccompProfile.parse(json, source: "n.json")
        let error = #expect(throws: RuntimeError.self) { try Seccomp.compile(profile, capabilities: []) }
        #expect(error?.code == .unsupported)
        #expect(error?.message == message)
    }

    @Test func unknownArchitectureFails() throws {
        let profile = try SeccompProfile.parse(#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#, source: "a.json")
        let error = #expect(throws: RuntimeError.self) { try Seccomp.compile(profile, capabilities: []) }
        #expect(error?.message == #"seccomp profile a.json: unknown architecture "SCMP_ARCH_VAX""#)
    }

    // MARK: - Enforcement

    struct Run {
        var status: Int32
        var output: String
        var exitCode: Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }
    }

    /// Runs argv[0] under `program` in a forked child (C: no Swift between fork and exec).
    func run(_ program: Seccomp.Program, _ argv: [String]) throws -> Run {
        let out = skiff_memfd_create("seccomp-test-output", UInt32(MFD_CLOEXEC))
        try #require(out >= 0)
        defer { close(out) }
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let status = program.bytes.withUnsafeBytes { bpf in
            skiff_run_with_seccomp_output(bpf.baseAddress, bpf.count, argv[0], &cArgs, out)
        }
        try #require(status >= 0, "run \(argv[0]): \(SeccompProfile.errnoName(-status))")
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var offset: off_t = 0
        while case let n = pread(out, &chunk, chunk.count, offset), n > 0 {
            bytes += chunk[0..<n]
            offset += off_t(n)
        }
        return Run(status: status, output: String(decoding: bytes, as: UTF8.self))
    }

    /// A fresh directory under /tmp, removed with what the test made in it.
    func withScratchDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/skiff-seccomp-test-XXXXXX".utf8CString)
        let dir = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer {
            rmdir(dir + "/made")
            rmdir(dir)
        }
        try body(dir)
    }

    @Test func filterRefusesMkdirWithItsErrno() throws {
        let deny = try SeccompProfile.parse(#"""
            {"defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
            """#, source: "deny-mkdir.json")
        let allow = try SeccompProfile.parse(#"{"defaultAction": "SCMP_ACT_ALLOW"}"#, source: "allow.json")
        try withScratchDirectory { dir in
            let denied = try run(try Seccomp.compile(deny, capabilities: []), ["/bin/mkdir", dir + "/made"])
            #expect(denied.exitCode == 1)
            #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
            #expect(access(dir + "/made", F_OK) != 0)

            let allowed = try run(try Seccomp.compile(allow, capabilities: []), ["/bin/mkdir", dir + "/made"])
            #expect(allowed.exitCode == 0, "\(allowed.output)")
            #expect(access(dir + "/made", F_OK) == 0)
        }
    }

    @Test func defaultProfileRunsTrue() throws {
        let result = try run(try Seccomp.compileDefault(capabilities: Self.podmanDefaultCapabilities), ["/bin/true"])
        #expect(result.exitCode == 0, "\(result.output)")
    }

    /// personality(2) is allowed for a few values only; anything else gets the default ENOSYS.
    @Test func defaultProfileFiltersPersonalityArguments() throws {
        var names = utsname()
        uname(&names)
        let machine = withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let program = try Seccomp.compileDefault(capabilities: Self.podmanDefaultCapabilities)
        let result = try run(program, ["/usr/bin/setarch", machine, "--addr-no-randomize", "/bin/true"])
        #expect(result.exitCode != 0)
        #expect(result.output.contains("Function not implemented"), "\(result.output)")
    }

    /// chroot(2) is refused by the filter without CAP_SYS_CHROOT; with it, the kernel decides
    /// (root may chroot, so this test needs root).
    @Test(.enabled(if: geteuid() == 0, "chroot(2) succeeds only for root"))
    func defaultProfileRefusesChrootWithoutTheCapability() throws {
        let without = try Seccomp.compileDefault(capabilities: Self.podmanDefaultCapabilities.filter { $0 != "CAP_SYS_CHROOT" })
        let refused = try run(without, ["/usr/sbin/chroot", "/", "/bin/true"])
        #expect(refused.exitCode != 0)
        #expect(refused.output.contains("Operation not permitted"), "\(refused.output)")

        let with = try Seccomp.compileDefault(capabilities: Self.podmanDefaultCapabilities)
        let allowed = try run(with, ["/usr/sbin/chroot", "/", "/bin/true"])
        #expect(allowed.exitCode == 0, "\(allowed.output)")
    }
}

extension Seccomp {
    /// A profile's rules chosen for `capabilities` on this machine (as the engine chooses them
    /// for a container's config.json), compiled.
    static func compile(_ profile: SeccompProfile, capabilities: [String], options: Options = Options()) throws -> Program {
        try compile(profile.oci(for: .host(capabilities: capabilities)), source: profile.source, options: options)
    }

    /// The built-in default profile, compiled for `capabilities`.
    static func compileDefault(capabilities: [String]) throws -> Program {
        try compile(try DefaultSeccompProfile.profile(), capabilities: capabilities)
    }
}

import CLinux
import Glibc
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

    typealias Profile = SeccompProfile
    typealias Rule = SeccompProfile.Rule

    // MARK: - Parsing

    struct ValidCase: Sendable, CustomTestStringConvertible {
        var json: String
        var expected: SeccompProfile
        var testDescription: String { json }
    }

    static let validCases: [ValidCase] = [
        ValidCase(json: #"{"defaultAction": "SCMP_ACT_ALLOW"}"#,
                  expected: Profile(source: "p.json", defaultAction: .allow)),
        ValidCase(json: #"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": null}"#,
                  expected: Profile(source: "p.json", defaultAction: .errno, defaultErrnoRet: 38)),
        // The errno name wins over the number, as in Podman.
        ValidCase(json: #"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "defaultErrno": "ENOSYS"}"#,
                  expected: Profile(source: "p.json", defaultAction: .errno, defaultErrnoRet: 38)),
        ValidCase(json: #"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_TRACE", "errnoRet": 7}]}"#,
                  expected: Profile(source: "p.json", defaultAction: .killProcess,
                                    syscalls: [Rule(names: ["mkdir"], action: .trace, errnoRet: 7)])),
        ValidCase(json: #"""
            {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
             "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
             "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errno": "EINVAL", "comment": "c",
                           "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_NE"},
                                    {"index": 5, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}],
                           "includes": {"caps": ["sys_admin"], "arches": ["amd64"], "minKernel": "5.8"},
                           "excludes": {"caps": ["CAP_BPF"]}}]}
            """#,
                  expected: Profile(source: "p.json", defaultAction: .allow,
                                    archMap: [.init(architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"])],
                                    syscalls: [Rule(names: ["personality"], action: .errno, errnoRet: 22,
                                                    args: [.init(index: 0, value: .max, op: .notEqual),
                                                           .init(index: 5, value: 255, valueTwo: 8, op: .maskedEqual)],
                                                    includes: .init(caps: ["CAP_SYS_ADMIN"], arches: ["amd64"],
                                                                    minKernel: .init(major: 5, minor: 8)),
                                                    excludes: .init(caps: ["CAP_BPF"]), comment: "c")],
                                    flags: ["SECCOMP_FILTER_FLAG_LOG"])),
        ValidCase(json: #"{"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"], "unknownKey": {"x": [1, true]}}"#,
                  expected: Profile(source: "p.json", defaultAction: .log, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"])),
    ]

    @Test(arguments: validCases)
    func parsesValidProfile(_ c: ValidCase) throws {
        #expect(try SeccompProfile.parse(c.json, source: "p.json") == c.expected)
    }

    @Test(arguments: SeccompProfile.Action.allCases)
    func parsesEveryAction(_ action: SeccompProfile.Action) throws {
        let profile = try SeccompProfile.parse(
            #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "\#(action.rawValue)"}]}"#,
            source: "p.json")
        #expect(profile.syscalls.map(\.action) == [action])
    }

    static let invalidCases: [(json: String, message: String)] = [
        ("", "not valid JSON: line 1, column 1: the file is empty"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW" "syscalls": []}"#,
         #"not valid JSON: line 1, column 36: expected ',' or '}', found '"'"#),
        ("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"a\"}\n  ]\n}",
         "not valid JSON: line 4, column 19: expected ',' or ']', found '}'"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a]}]}"#,
         "not valid JSON: line 1, column 61: string never closed"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}]} x"#,
         "not valid JSON: line 1, column 97: unexpected text after the end of the JSON value"),
        ("[]", "expected an object, found an array"),
        ("{}", "defaultAction is missing"),
        (#"{"defaultAction": 1}"#, "defaultAction: expected a string, found a number"),
        (#"{"defaultAction": "SCMP_ACT_FOO"}"#, #"defaultAction: unknown action "SCMP_ACT_FOO""#),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#,
         "defaultErrnoRet is set but defaultAction SCMP_ACT_ALLOW takes no errno"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EWHAT"}"#, #"defaultErrno: unknown errno "EWHAT""#),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#, "defaultErrnoRet: 70000 is out of range (0-65535)"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}"#, "syscalls: expected an array, found an object"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}"#,
         "syscalls[0]: names is missing or empty"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a", 2], "action": "SCMP_ACT_ERRNO"}]}"#,
         "syscalls[0].names[1]: expected a string, found a number"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#,
         "syscalls[0]: both name and names are set; use one"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"]}]}"#, "syscalls[0]: action is missing"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}"#,
         "syscalls[0]: errnoRet is set but action SCMP_ACT_ALLOW takes no errno"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0].index: 6 is out of range (a syscall has arguments 0-5)"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}"#,
         #"syscalls[0].args[0].op: unknown operator "SCMP_CMP_XX""#),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0].value: -1 is negative"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1.5, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0].value: 1.5 is not a whole number from 0 to 18446744073709551615"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0]: index is missing"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "5"}}]}"#,
         #"syscalls[0].includes.minKernel: "5" is not a kernel version like "5.8""#),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": "CAP_SYS_ADMIN"}}]}"#,
         "syscalls[0].excludes.caps: expected an array, found a string"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
         "both architectures and archMap are set; use one"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"subArchitectures": []}]}"#, "archMap[0]: architecture is missing"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}"#, #"flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE""#),
    ]

    @Test(arguments: invalidCases)
    func rejectsInvalidProfile(_ json: String, _ message: String) {
        let error = #expect(throws: RuntimeError.self) { try SeccompProfile.parse(json, source: "bad.json") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "seccomp profile bad.json: " + message)
    }

    @Test func loadNamesTheMissingFile() {
        let error = #expect(throws: RuntimeError.self) { try SeccompProfile.load(path: "/nonexistent/seccomp.json") }
        #expect(error?.code == .notFound)
        #expect(error?.message == "seccomp profile /nonexistent/seccomp.json: open: ENOENT")
        #expect(error?.errno == ENOENT)
    }

    // MARK: - Which rules apply

    static func conditional() throws -> SeccompProfile {
        try SeccompProfile.parse(#"""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"comment": "always", "names": ["read"], "action": "SCMP_ACT_ALLOW"},
          {"comment": "admin", "names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
          {"comment": "admin+ptrace", "names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]}},
          {"comment": "no admin", "names": ["mount"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
          {"comment": "no admin nor boot", "names": ["reboot"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_BOOT"]}},
          {"comment": "x86", "names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
          {"comment": "not arm64", "names": ["iopl"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
          {"comment": "5.8+", "names": ["faccessat2"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
          {"comment": "before 5.8", "names": ["faccessat2"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.8"}}
        ]}
        """#, source: "conditional.json")
    }

    static let selectionCases: [(caps: [String], arch: String, kernel: String?, comments: [String])] = [
        ([], "amd64", "6.1", ["always", "no admin", "no admin nor boot", "x86", "not arm64", "5.8+"]),
        (["CAP_SYS_ADMIN"], "amd64", "6.1", ["always", "admin", "x86", "not arm64", "5.8+"]),
        (["sys_admin", "SYS_PTRACE"], "amd64", "6.1", ["always", "admin", "admin+ptrace", "x86", "not arm64", "5.8+"]),
        (["CAP_SYS_PTRACE"], "amd64", "6.1", ["always", "no admin", "no admin nor boot", "x86", "not arm64", "5.8+"]),
        (["CAP_SYS_BOOT"], "arm64", "5.4", ["always", "no admin", "before 5.8"]),
        (["CAP_SYS_BOOT"], "x86", "5.8", ["always", "no admin", "not arm64", "5.8+"]),
        ([], "s390x", nil, ["always", "no admin", "no admin nor boot", "not arm64", "before 5.8"]),
    ]

    @Test(arguments: selectionCases)
    func selectsRulesByCapabilityArchAndKernel(_ c: (caps: [String], arch: String, kernel: String?, comments: [String])) throws {
        let target = SeccompProfile.Target(capabilities: c.caps, architecture: c.arch,
                                           kernel: c.kernel.flatMap { SeccompProfile.KernelVersion(release: $0) })
        #expect(try Self.conditional().rules(for: target).map(\.comment) == c.comments)
    }

    @Test(arguments: [("6.18.44-fc-v657", "6.18"), ("3.12-1-amd64", "3.12"), ("5.8", "5.8"), ("4.19.0+", "4.19")])
    func readsKernelRelease(_ release: String, _ version: String) {
        #expect(SeccompProfile.KernelVersion(release: release)?.description == version)
    }

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

    @Test func defaultProfileMatchesSharedFile() throws {
        let root = String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/")
        let path = "/" + root + "/share/seccomp.json"
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0, "cannot open \(path)")
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while case let n = read(fd, &chunk, chunk.count), n > 0 { bytes += chunk[0..<n] }
        #expect(String(decoding: bytes, as: UTF8.self) == DefaultSeccompProfile.json)
        #expect(try SeccompProfile.load(path: path).syscalls == DefaultSeccompProfile.profile().syscalls)
    }

    /// The facts of containers/common v0.50.1 that the default profile keeps.
    @Test func defaultProfileKeepsPodmanFacts() throws {
        let profile = try DefaultSeccompProfile.profile()
        #expect(profile.defaultAction == .errno)
        #expect(profile.defaultErrnoRet == UInt16(ENOSYS))
        let rules = profile.rules(for: .init(capabilities: Self.podmanDefaultCapabilities, architecture: "amd64", kernel: nil))
        let allowed = Set(rules.filter { $0.action == .allow && $0.args.isEmpty }.flatMap(\.names))
        let refused = Set(rules.filter { $0.action == .errno && $0.args.isEmpty }.flatMap(\.names))
        // 374 on every architecture, arch_prctl and modify_ldt on x86-64, chroot with CAP_SYS_CHROOT
        #expect(allowed.count == 377)
        for name in ["clone", "clone3", "unshare", "setns", "mount", "pivot_root", "reboot", "chroot", "arch_prctl"] {
            #expect(allowed.contains(name), "\(name)")
        }
        for name in ["bpf", "sethostname", "kcmp", "acct", "init_module", "settimeofday", "open_by_handle_at", "kexec_load", "userfaultfd"] {
            #expect(refused.contains(name) && !allowed.contains(name), "\(name)")
        }
        #expect(allowed.isDisjoint(with: refused))
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

import Glibc
import Platform
import Testing

@testable import OCI

/// Seccomp profiles in the containers.conf (Docker/Podman) format: parsing, and the choice of
/// rules for one container that becomes its config.json `linux.seccomp`.
@Suite struct SeccompProfileTests {
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
        let error = #expect(throws: OCIError.self) { try SeccompProfile.parse(json, source: "bad.json") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "seccomp profile bad.json: " + message)
    }

    @Test func loadNamesTheMissingFile() {
        let error = #expect(throws: OCIError.self) { try SeccompProfile.load(path: "/nonexistent/seccomp.json") }
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

    // MARK: - The OCI object

    /// The rules for a container, without their conditions; the architectures of the archMap
    /// entry for this architecture; errno names resolved to numbers.
    @Test func theOCIObjectKeepsTheRulesThatApply() throws {
        let profile = try SeccompProfile.parse(#"""
            {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
             "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]}],
             "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                         {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}},
                         {"names":["bpf"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_KILL"]}},
                         {"names":["arm_only"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}},
                         {"names":["newer"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"9.0"}},
                         {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}],
                          "errnoRet":1,"errno":"EPERM","comment":"x"}]}
            """#, source: "p.json")
        let kernel = SeccompProfile.KernelVersion(major: 6, minor: 1)
        let oci = profile.oci(for: .init(capabilities: ["CAP_KILL"], architecture: "amd64", kernel: kernel)).json
        #expect(oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        #expect(oci["defaultErrnoRet"] == 38)
        guard case .array(let rules)? = oci["syscalls"] else { Issue.record("no syscalls"); return }
        #expect(rules.map { $0["names"] } == [["read"], ["personality"]])
        #expect(rules[1]["errno"] == nil && rules[1]["errnoRet"] == 1 && rules[1]["args"] != nil)
        #expect(rules[1]["comment"] == nil && rules[1]["includes"] == nil)
        let traced = profile.oci(for: .init(capabilities: ["CAP_SYS_PTRACE"], architecture: "amd64", kernel: kernel)).json
        guard case .array(let more)? = traced["syscalls"] else { return }
        #expect(more.map { $0["names"] } == [["read"], ["ptrace"], ["bpf"], ["personality"]])
        // Another architecture: no archMap entry, no architectures added.
        #expect(profile.oci(for: .init(capabilities: [], architecture: "s390x", kernel: kernel)).architectures == [])
    }

    @Test(arguments: [("x86_64", "amd64", "SCMP_ARCH_X86_64"), ("aarch64", "arm64", "SCMP_ARCH_AARCH64"),
                      ("i686", "x86", "SCMP_ARCH_X86"), ("ppc64le", "ppc64le", "SCMP_ARCH_PPC64LE"),
                      ("s390x", "s390x", "SCMP_ARCH_S390X"), ("riscv64", "riscv64", "SCMP_ARCH_RISCV64")])
    func namesTheMachinesArchitecture(_ machine: String, _ arch: String, _ libseccomp: String) {
        #expect(SeccompProfile.Target.architecture(machine: machine) == arch)
        #expect(SeccompProfile.libseccompArchitecture(arch) == libseccomp)
    }
}

import OCI
import Testing
@testable import Runtime

/// Returns scripted category numbers. Each value v is encoded as `v << 54 | v`, so that
/// `next(upperBound: 1024)` yields v whether the standard library maps a 64-bit draw by its high
/// bits (multiply-shift, what it does today) or by its low bits.
struct ScriptedRandom: RandomNumberGenerator {
    var values: [UInt64]
    var fallback = SystemRandomNumberGenerator()

    init(_ values: [UInt64]) { self.values = values }

    mutating func next() -> UInt64 {
        guard !values.isEmpty else {
            Issue.record("scripted random numbers ran out")
            return fallback.next()
        }
        let v = values.removeFirst()
        return v << 54 | v
    }
}

struct SELinuxLabelTests {
    /// `/usr/share/containers/selinux/contexts` as the seed article prints it.
    static let seedContexts = """
        process = "system_u:system_r:container_t:s0"
        file = "system_u:object_r:container_file_t:s0"
        ro_file="system_u:object_r:container_ro_file_t:s0"
        kvm_process = "system_u:system_r:container_kvm_t:s0"
        init_process = "system_u:system_r:container_init_t:s0"
        engine_process = "system_u:system_r:container_engine_t:s0"
        """

    static var selector: SELinuxLabel.Selector { .init(contextsText: seedContexts) }

    // MARK: contexts file

    @Test func parsesTheSeedContextsFile() {
        let contexts = SELinuxContexts(parsing: Self.seedContexts)
        #expect(contexts.values == [
            "process": "system_u:system_r:container_t:s0",
            "file": "system_u:object_r:container_file_t:s0",
            "ro_file": "system_u:object_r:container_ro_file_t:s0",
            "kvm_process": "system_u:system_r:container_kvm_t:s0",
            "init_process": "system_u:system_r:container_init_t:s0",
            "engine_process": "system_u:system_r:container_engine_t:s0",
        ])
        #expect(contexts.process == "system_u:system_r:container_t:s0")
        #expect(contexts.file == "system_u:object_r:container_file_t:s0")
        #expect(contexts.readOnlyFile == "system_u:object_r:container_ro_file_t:s0")
        #expect(contexts.kvmProcess == "system_u:system_r:container_kvm_t:s0")
        #expect(contexts.initProcess == "system_u:system_r:container_init_t:s0")
        #expect(contexts.engineProcess == "system_u:system_r:container_engine_t:s0")
    }

    /// An older policy's `lxc_contexts`: comments, blank lines, CRLF, keys we ignore, no ro_file,
    /// kvm or init entries (those fall back).
    @Test func parsesAnLXCContextsFileWithFallbacks() {
        let text = "# lxc_contexts\r\n\r\n; another comment\r\n"
            + "process = \"system_u:system_r:svirt_lxc_net_t:s0\"\r\n"
            + "content = \"system_u:object_r:virt_var_lib_t:s0\"\r\n"
            + "\tfile\t=\t\"system_u:object_r:svirt_sandbox_file_t:s0\"  \r\n"
            + "no equals sign here\r\n"
            + "sandbox_kvm_process = \"system_u:system_r:svirt_qemu_net_t:s0\"\r\n"
            + "empty = \r\n"
        let contexts = SELinuxContexts(parsing: text)
        #expect(contexts.values == [
            "process": "system_u:system_r:svirt_lxc_net_t:s0",
            "content": "system_u:object_r:virt_var_lib_t:s0",
            "file": "system_u:object_r:svirt_sandbox_file_t:s0",
            "sandbox_kvm_process": "system_u:system_r:svirt_qemu_net_t:s0",
            "empty": "",
        ])
        #expect(contexts.readOnlyFile == "system_u:object_r:svirt_sandbox_file_t:s0")
        #expect(contexts.kvmProcess == "system_u:system_r:svirt_lxc_net_t:s0")
        #expect(contexts.initProcess == "system_u:system_r:svirt_lxc_net_t:s0")
        #expect(contexts.engineProcess == nil)
    }

    @Test(arguments: [
        ("system_u:system_r:container_t:s0", "system_u", "system_r", "container_t", "s0"),
        ("system_u:system_r:container_t:s0:c1,c2", "system_u", "system_r", "container_t", "s0:c1,c2"),
        ("u:r:t:s0-s0:c0.c1023", "u", "r", "t", "s0-s0:c0.c1023"),
        ("u:r:t", "u", "r", "t", nil),
    ] as [(String, String, String, String, String?)])
    func parsesContexts(text: String, user: String, role: String, type: String, level: String?) throws {
        let c = try SELinuxContext(parsing: text)
        #expect(c == SELinuxContext(user: user, role: role, type: type, level: level))
        #expect(c.description == text)
        #expect(SELinuxContext.level(of: text) == level)
    }

    @Test(arguments: ["", "u:r", "u::t", ":r:t", "container_t"])
    func rejectsBadContexts(text: String) {
        let error = #expect(throws: RuntimeError.self) { try SELinuxContext(parsing: text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid SELinux context \"\(text)\": want user:role:type[:level]")
    }

    // MARK: options

    @Test(arguments: [
        ("disable", SELinuxLabel.Option.disable),
        ("user:staff_u", .user("staff_u")),
        ("role:staff_r", .role("staff_r")),
        ("type:spc_t", .type("spc_t")),
        ("level:s0:c100,c200", .level("s0:c100,c200")),
        ("filetype:container_share_t", .filetype("container_share_t")),
    ])
    func parsesOptions(text: String, option: SELinuxLabel.Option) throws {
        #expect(try SELinuxLabel.Option(parsing: text) == option)
        #expect(option.description == text)
    }

    static let badOptionTail = ": valid options are disable, user:USER, role:ROLE, type:TYPE, level:LEVEL, filetype:TYPE"

    @Test(arguments: [
        ("nested", "bad SELinux label option \"nested\"" + badOptionTail),
        ("foo:bar", "bad SELinux label option \"foo:bar\"" + badOptionTail),
        ("type", "bad SELinux label option \"type\"" + badOptionTail),
        ("Disable", "bad SELinux label option \"Disable\"" + badOptionTail),
        ("disable:1", "bad SELinux label option \"disable:1\"" + badOptionTail),
        ("", "bad SELinux label option \"\"" + badOptionTail),
        ("type:", "SELinux label option \"type:\" needs a value"),
        ("level:", "SELinux label option \"level:\" needs a value"),
        ("user:a:b", "SELinux label option \"user:a:b\": a user cannot contain \":\""),
        ("filetype:container_file_t:s0", "SELinux label option \"filetype:container_file_t:s0\": a filetype cannot contain \":\""),
    ])
    func rejectsBadOptions(text: String, message: String) {
        let error = #expect(throws: RuntimeError.self) { try SELinuxLabel.Option(parsing: text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == message)
    }

    @Test func parseStopsAtTheFirstBadOption() {
        let error = #expect(throws: RuntimeError.self) {
            try SELinuxLabel.Option.parse(["type:spc_t", "nested", "bogus"])
        }
        #expect(error?.message == "bad SELinux label option \"nested\"" + Self.badOptionTail)
    }

    @Test func duplicatesAnotherContainersContext() throws {
        #expect(try SELinuxLabel.Option.duplicating(processLabel: "system_u:system_r:container_t:s0:c1,c2") ==
            [.user("system_u"), .role("system_r"), .type("container_t"), .level("s0:c1,c2")])
        #expect(try SELinuxLabel.Option.duplicating(processLabel: "u:r:t") == [.user("u"), .role("r"), .type("t")])
    }

    // MARK: label selection

    @Test func defaultLabelsShareOneCategoryPair() throws {
        var random = ScriptedRandom([5, 3])
        let label = try Self.selector.label(options: [], inUse: [], using: &random)
        #expect(label == SELinuxLabel(processLabel: "system_u:system_r:container_t:s0:c3,c5",
                                      mountLabel: "system_u:object_r:container_file_t:s0:c3,c5",
                                      level: "s0:c3,c5"))
    }

    /// Draws: (7, 7) is no pair; (9, 2) is in use; (1023, 1022) is reserved for label=disable.
    @Test func skipsEqualPairsPairsInUseAndThePrivilegedPair() throws {
        var random = ScriptedRandom([7, 7, 9, 2, 1023, 1022, 0, 1023])
        let label = try Self.selector.label(options: [], inUse: ["s0:c2,c9"], using: &random)
        #expect(label.processLabel == "system_u:system_r:container_t:s0:c0,c1023")
        #expect(label.mountLabel == "system_u:object_r:container_file_t:s0:c0,c1023")
        #expect(label.level == "s0:c0,c1023")
    }

    @Test func manyContainersGetDistinctPairs() throws {
        var inUse: Set<String> = []
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let label = try Self.selector.label(options: [], inUse: inUse, using: &random)
            let level = try #require(label.level)
            #expect(!inUse.contains(level))
            #expect(level != SELinuxLabel.privilegedLevel)
            #expect(SELinuxContext.level(of: try #require(label.processLabel)) == level)
            #expect(SELinuxContext.level(of: try #require(label.mountLabel)) == level)
            let cats = level.dropFirst("s0:c".count).split(separator: ",")
            let x = try #require(Int(cats[0])), y = try #require(Int(cats[1].dropFirst()))
            #expect(0 <= x && x < y && y <= 1023)
            inUse.insert(level)
        }
        #expect(inUse.count == 500)
    }

    /// With every pair but one taken, random draws keep failing and the scan finds the last one;
    /// with none left, a clear error.
    @Test func nearlyFullAndFullCategorySpace() throws {
        var all: Set<String> = []
        for x in 0..<1024 { for y in (x + 1)..<1024 { all.insert("s0:c\(x),c\(y)") } }
        #expect(all.count == 523_776)
        var random = SystemRandomNumberGenerator()
        var inUse = all
        inUse.remove("s0:c500,c501")
        let label = try Self.selector.label(options: [], inUse: inUse, using: &random)
        #expect(label.level == "s0:c500,c501")
        inUse.remove(SELinuxLabel.privilegedLevel)
        inUse.insert("s0:c500,c501")
        let error = #expect(throws: RuntimeError.self) {
            try Self.selector.label(options: [], inUse: inUse, using: &random)
        }
        #expect(error?.code == .exists)
        #expect(error?.message == "no free SELinux MCS level: all category pairs are in use")
    }

    struct OptionCase: Sendable, CustomTestStringConvertible {
        var options: [String]
        var kind: SELinuxLabel.Kind = .container
        var expected: SELinuxLabel
        var testDescription: String { "\(options) \(kind)" }
    }

    /// Every case draws (1, 2) first.
    static let optionCases: [OptionCase] = [
        OptionCase(options: [], expected: .init(processLabel: "system_u:system_r:container_t:s0:c1,c2",
                                                mountLabel: "system_u:object_r:container_file_t:s0:c1,c2",
                                                level: "s0:c1,c2")),
        OptionCase(options: ["type:spc_t"], expected: .init(processLabel: "system_u:system_r:spc_t:s0:c1,c2",
                                                            mountLabel: "system_u:object_r:container_file_t:s0:c1,c2",
                                                            level: "s0:c1,c2")),
        OptionCase(options: ["user:staff_u"], expected: .init(processLabel: "staff_u:system_r:container_t:s0:c1,c2",
                                                              mountLabel: "staff_u:object_r:container_file_t:s0:c1,c2",
                                                              level: "s0:c1,c2")),
        OptionCase(options: ["role:staff_r"], expected: .init(processLabel: "system_u:staff_r:container_t:s0:c1,c2",
                                                              mountLabel: "system_u:object_r:container_file_t:s0:c1,c2",
                                                              level: "s0:c1,c2")),
        OptionCase(options: ["level:s0:c100,c200"],
                   expected: .init(processLabel: "system_u:system_r:container_t:s0:c100,c200",
                                   mountLabel: "system_u:object_r:container_file_t:s0:c100,c200",
                                   level: "s0:c100,c200")),
        OptionCase(options: ["filetype:container_share_t"],
                   expected: .init(processLabel: "system_u:system_r:container_t:s0:c1,c2",
                                   mountLabel: "system_u:object_r:container_share_t:s0:c1,c2",
                                   level: "s0:c1,c2")),
        OptionCase(options: ["type:spc_t", "level:s0", "filetype:container_ro_file_t", "role:r2", "user:u2"],
                   expected: .init(processLabel: "u2:r2:spc_t:s0",
                                   mountLabel: "u2:object_r:container_ro_file_t:s0",
                                   level: "s0")),
        // disable wins wherever it is; nothing is reserved.
        OptionCase(options: ["disable"], expected: .init(processLabel: nil,
                                                         mountLabel: "system_u:object_r:container_file_t:s0:c1022,c1023",
                                                         level: nil)),
        OptionCase(options: ["type:spc_t", "disable"],
                   expected: .init(processLabel: nil,
                                   mountLabel: "system_u:object_r:container_file_t:s0:c1022,c1023", level: nil)),
        // systemd and KVM containers take the init/kvm type unless a type was chosen.
        OptionCase(options: [], kind: .systemd,
                   expected: .init(processLabel: "system_u:system_r:container_init_t:s0:c1,c2",
                                   mountLabel: "system_u:object_r:container_file_t:s0:c1,c2", level: "s0:c1,c2")),
        OptionCase(options: [], kind: .kvm,
                   expected: .init(processLabel: "system_u:system_r:container_kvm_t:s0:c1,c2",
                                   mountLabel: "system_u:object_r:container_file_t:s0:c1,c2", level: "s0:c1,c2")),
        OptionCase(options: ["type:spc_t"], kind: .systemd,
                   expected: .init(processLabel: "system_u:system_r:spc_t:s0:c1,c2",
                                   mountLabel: "system_u:object_r:container_file_t:s0:c1,c2", level: "s0:c1,c2")),
        OptionCase(options: ["filetype:container_share_t"], kind: .kvm,
                   expected: .init(processLabel: "system_u:system_r:container_kvm_t:s0:c1,c2",
                                   mountLabel: "system_u:object_r:container_share_t:s0:c1,c2", level: "s0:c1,c2")),
    ]

    @Test(arguments: optionCases)
    func appliesOptions(c: OptionCase) throws {
        var random = ScriptedRandom([1, 2])
        let options = try SELinuxLabel.Option.parse(c.options)
        let label = try Self.selector.label(options: options, inUse: [], kind: c.kind, using: &random)
        #expect(label == c.expected)
    }

    /// A user-chosen level is not required to be unique: containers of a pod share one.
    @Test func chosenLevelMayBeInUse() throws {
        var random = ScriptedRandom([1, 2])
        let label = try Self.selector.label(options: [.level("s0:c3,c4")], inUse: ["s0:c3,c4"], using: &random)
        #expect(label.processLabel == "system_u:system_r:container_t:s0:c3,c4")
        #expect(label.level == "s0:c3,c4")
    }

    @Test func policyWithoutLevelsGetsNoCategories() throws {
        let selector = SELinuxLabel.Selector(contextsText: """
            process = "system_u:system_r:container_t"
            file = "system_u:object_r:container_file_t"
            """)
        var random = ScriptedRandom([])
        let label = try selector.label(options: [], inUse: [], using: &random)
        #expect(label == SELinuxLabel(processLabel: "system_u:system_r:container_t",
                                      mountLabel: "system_u:object_r:container_file_t", level: nil))
    }

    @Test func missingContextsGiveNoProcessLabel() throws {
        var random = ScriptedRandom([])
        let fileOnly = SELinuxLabel.Selector(contextsText: "file = \"system_u:object_r:container_file_t:s0\"")
        #expect(try fileOnly.label(options: [], inUse: [], using: &random) ==
            SELinuxLabel(processLabel: nil, mountLabel: "system_u:object_r:container_file_t:s0", level: nil))
        let empty = SELinuxLabel.Selector(contextsText: "")
        #expect(try empty.label(options: [], inUse: [], using: &random) == .none)
        #expect(try empty.label(options: [.disable], inUse: [], using: &random) == .none)
    }

    @Test func badContextInTheFileIsReported() {
        var random = ScriptedRandom([])
        let selector = SELinuxLabel.Selector(contextsText: "process = \"container_t\"\nfile = \"u:r:t:s0\"")
        let error = #expect(throws: RuntimeError.self) {
            try selector.label(options: [], inUse: [], using: &random)
        }
        #expect(error?.message == "invalid SELinux context \"container_t\": want user:role:type[:level]")
    }

    // MARK: the host

    @Test(.disabled(if: SELinux.isEnabled, "checks the SELinux-off path; this host has SELinux on"))
    func selinuxOffIsANoOp() throws {
        #expect(try SELinuxLabel.forContainer(options: [], inUse: []) == .none)
        #expect(try SELinuxLabel.forContainer(options: ["type:spc_t", "level:s0:c1,c2"], inUse: [],
                                              kind: .systemd) == .none)
        #expect(try SELinuxLabel.forContainer(options: ["disable"], inUse: []) == .none)
    }

    @Test func badOptionsFailOnEveryHost() {
        let error = #expect(throws: RuntimeError.self) {
            try SELinuxLabel.forContainer(options: ["nested"], inUse: [])
        }
        #expect(error?.message == "bad SELinux label option \"nested\"" + Self.badOptionTail)
    }

    @Test func policyContextsPathComesFromLibselinux() {
        let path = SELinux.policyContextsPath
        #expect(path?.hasSuffix("/contexts/lxc_contexts") == true)
    }
}

/// The engine's request for labels (an annotation the service writes, since it has no libselinux).
struct EngineLabelRequestTests {
    func spec(_ annotations: String) throws -> Spec {
        try Spec.decode(Array(#"{"ociVersion":"1.1.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["true"]},"annotations":\#(annotations)}"#.utf8),
                        source: "test")
    }

    @Test func noAnnotationNoChoice() throws {
        #expect(try LaunchPlan.chosenLabel(try spec("{}")) == nil)
    }

    @Test func optionsAreCheckedEvenWithSELinuxOff() throws {
        let chosen = try LaunchPlan.chosenLabel(try spec(#"{"run.skiff.selinux-label-options":"[\"type:container_t\",\"level:s0:c1,c2\"]"}"#))
        #expect(chosen != nil)
        if !SELinux.isEnabled { #expect(chosen == SELinuxLabel.none) }
        #expect(throws: RuntimeError.self) {
            _ = try LaunchPlan.chosenLabel(try spec(#"{"run.skiff.selinux-label-options":"[\"bogus:x\"]"}"#))
        }
        #expect(throws: RuntimeError.self) {
            _ = try LaunchPlan.chosenLabel(try spec(#"{"run.skiff.selinux-label-options":"not json"}"#))
        }
    }
}

import OCI
import Testing
@testable import Runtime

struct CapabilitiesTests {
    /// Podman's `default_capabilities` from containers.conf, as the seed article shows them.
    static let podmanDefaults = [
        "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    ]
    /// The same list in capability-number order with the CAP_ prefix.
    static let podmanDefaultNames = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETFCAP",
    ]
    /// 41 capabilities (0...40, CAP_CHECKPOINT_RESTORE last): what ALL means on a 5.9+ kernel.
    /// Passed as `universe` so the tables do not depend on the test host's kernel.
    static let universe41 = CapabilityMask(rawValue: 0x1ff_ffff_ffff)

    // MARK: names

    @Test(arguments: [
        ("chown", "CAP_CHOWN"),
        ("CHOWN", "CAP_CHOWN"),
        ("cap_chown", "CAP_CHOWN"),
        ("CAP_CHOWN", "CAP_CHOWN"),
        ("Net_Bind_Service", "CAP_NET_BIND_SERVICE"),
        ("cAp_SyS_aDmIn", "CAP_SYS_ADMIN"),
        ("all", "ALL"),
        ("ALL", "ALL"),
        ("All", "ALL"),
    ])
    func normalizesNames(input: String, expected: String) throws {
        #expect(try Capabilities.normalize(input) == expected)
    }

    @Test(arguments: [
        ("CAP_CHOWN", 0), ("dac_override", 1), ("FOWNER", 3), ("FSETID", 4), ("KILL", 5),
        ("SETGID", 6), ("SETUID", 7), ("SETPCAP", 8), ("NET_BIND_SERVICE", 10), ("NET_ADMIN", 12),
        ("NET_RAW", 13), ("SYS_CHROOT", 18), ("SYS_PTRACE", 19), ("SYS_ADMIN", 21), ("MKNOD", 27),
        ("AUDIT_WRITE", 29), ("SETFCAP", 31), ("MAC_OVERRIDE", 32), ("AUDIT_READ", 37),
    ])
    func mapsNamesToNumbersAndBack(name: String, number: Int) throws {
        #expect(try Capabilities.number(of: name) == number)
        #expect(Capabilities.name(of: number) == (try Capabilities.normalize(name)))
    }

    @Test(arguments: [
        ("foo", "unknown capability \"CAP_FOO\""),
        ("CAP_FOO", "unknown capability \"CAP_FOO\""),
        ("cap_foo", "unknown capability \"CAP_FOO\""),
        ("12", "unknown capability \"CAP_12\""),
        ("CAP_12", "unknown capability \"CAP_12\""),
        ("", "unknown capability \"CAP_\""),
        ("CAP_ALL", "unknown capability \"CAP_ALL\""),
        ("chown ", "unknown capability \"CAP_CHOWN \""),
        ("CAP_CHOWN,CAP_KILL", "unknown capability \"CAP_CHOWN,CAP_KILL\""),
    ])
    func rejectsUnknownNames(input: String, message: String) {
        let error = #expect(throws: RuntimeError.self) { try Capabilities.normalize(input) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == message)
    }

    @Test func allIsNotACapabilityNumber() {
        let error = #expect(throws: RuntimeError.self) { try Capabilities.number(of: "ALL") }
        #expect(error?.message == "unknown capability \"CAP_ALL\"")
        #expect(Capabilities.name(of: -1) == nil)
        #expect(Capabilities.name(of: 64) == nil)
    }

    @Test func allExpandsToEveryCapabilityTheKernelKnows() throws {
        let lastCap = try #require(try SELinux.readTextFile("/proc/sys/kernel/cap_last_cap"))
        let count = try #require(Int(lastCap.filter { !$0.isWhitespace })) + 1
        #expect(Capabilities.kernelCount == count)
        let all = Capabilities.allNames
        #expect(all.count == count) // libcap 2.66 names every capability of this kernel
        #expect(all.first == "CAP_CHOWN")
        #expect(all.prefix(3) == ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"])
        #expect(all.contains("CAP_SYS_ADMIN") && all.contains("CAP_AUDIT_READ"))
        #expect(CapabilityMask.kernelKnown.names == all)
        #expect(CapabilityMask.kernelKnown.rawValue == (UInt64(1) << UInt64(count)) - 1)
        #expect(try CapabilityMask(names: all) == .kernelKnown)
    }

    // MARK: masks and /proc/self/status

    @Test func podmanDefaultsRenderAsProcStatusHex() throws {
        let mask = try CapabilityMask(names: Self.podmanDefaults)
        #expect(mask.hex == "00000000800405fb")
        #expect(mask.rawValue == 0x8004_05fb)
        #expect(mask.names == Self.podmanDefaultNames)
        #expect(mask.numbers == [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31])
    }

    /// The seed article's edit: SYS_CHROOT removed from default_capabilities, after which
    /// `chroot /rootfs` fails with EPERM in the container.
    @Test func seedScenarioWithoutSysChroot() throws {
        let mask = try CapabilityMask(names: Self.podmanDefaults.filter { $0 != "SYS_CHROOT" })
        #expect(mask.hex == "00000000800005fb")
        #expect(!mask.contains(18))
        let viaDrop = try Capabilities.effectiveSet(defaults: Self.podmanDefaults, add: [], drop: ["sys_chroot"])
        #expect(viaDrop.hex == "00000000800005fb")
    }

    /// The real kernel's rendering: this process's CapBnd line parses to the bounding set that
    /// prctl reports.
    @Test func readsThisProcessStatus() throws {
        let status = try #require(try SELinux.readTextFile("/proc/self/status"))
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("CapBnd:\t") })
        let hex = line.dropFirst("CapBnd:\t".count)
        #expect(hex.count == 16)
        let mask = try #require(CapabilityMask(hex: hex))
        #expect(mask == (try CapabilityMask.currentBounding()))
        #expect(mask.hex == String(hex))
    }

    @Test(arguments: [
        (UInt64(0), "0000000000000000"),
        (UInt64(1), "0000000000000001"),
        (UInt64(0x1ff_ffff_ffff), "000001ffffffffff"),
        (UInt64.max, "ffffffffffffffff"),
    ])
    func hexRoundTrips(raw: UInt64, hex: String) {
        #expect(CapabilityMask(rawValue: raw).hex == hex)
        #expect(CapabilityMask(hex: hex)?.rawValue == raw)
    }

    @Test(arguments: ["", "xyz", "00000000000000000", "-1"])
    func rejectsBadHex(hex: String) {
        #expect(CapabilityMask(hex: hex) == nil)
    }

    @Test func buildsTheFiveSetsFromOCIJSON() throws {
        let json = """
            {"user": {"uid": 0, "gid": 0}, "cwd": "/", "capabilities":
            {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_CHROOT"],
             "effective": ["CAP_CHOWN", "CAP_KILL"],
             "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_CHROOT"],
             "ambient": ["CAP_KILL"]}}
            """
        let oci = try #require(try Spec.decodeProcess(Array(json.utf8), source: "test").capabilities)
        #expect(oci.inheritable == nil)
        let set = try CapabilitySet(oci)
        #expect(set.bounding.hex == "0000000000040021")
        #expect(set.effective.hex == "0000000000000021")
        #expect(set.inheritable.isEmpty)
        #expect(set.ambient.names == ["CAP_KILL"])
        #expect(set.statusLines == """
            CapInh:\t0000000000000000
            CapPrm:\t0000000000040021
            CapEff:\t0000000000000021
            CapBnd:\t0000000000040021
            CapAmb:\t0000000000000020

            """)
        #expect(set.oci == Spec.Capabilities(bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_CHROOT"],
                                           effective: ["CAP_CHOWN", "CAP_KILL"], inheritable: [],
                                           permitted: ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_CHROOT"],
                                           ambient: ["CAP_KILL"]))
    }

    @Test func containerSetsForPodmanDefaults() throws {
        let set = CapabilitySet(container: try CapabilityMask(names: Self.podmanDefaults))
        #expect(set.statusLines == """
            CapInh:\t0000000000000000
            CapPrm:\t00000000800405fb
            CapEff:\t00000000800405fb
            CapBnd:\t00000000800405fb
            CapAmb:\t0000000000000000

            """)
        #expect(set.oci.effective == Self.podmanDefaultNames)
    }

    @Test func ociWithUnknownNameFails() {
        let oci = Spec.Capabilities(bounding: ["CAP_CHOWN", "CAP_NOPE"])
        let error = #expect(throws: RuntimeError.self) { try CapabilitySet(oci) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "unknown capability \"CAP_NOPE\"")
    }

    // MARK: CapAdd / CapDrop

    enum Outcome: Sendable, CustomStringConvertible {
        case names([String])
        case hex(String)
        case error(String)
        var description: String {
            switch self {
            case .names(let n): n.joined(separator: ",")
            case .hex(let h): h
            case .error(let m): "error: \(m)"
            }
        }
    }

    struct MergeCase: Sendable, CustomTestStringConvertible {
        var add: [String]
        var drop: [String]
        var docker: Outcome
        var podman: Outcome
        var testDescription: String { "add \(add) drop \(drop)" }
    }

    static let mergeCases: [MergeCase] = [
        // Nothing to tweak: the defaults.
        MergeCase(add: [], drop: [], docker: .hex("00000000800405fb"), podman: .hex("00000000800405fb")),
        // Plain drop and add.
        MergeCase(add: [], drop: ["SYS_CHROOT"], docker: .hex("00000000800005fb"), podman: .hex("00000000800005fb")),
        MergeCase(add: ["sys_admin"], drop: ["chown", "CAP_KILL"],
                  docker: .names(["CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETGID", "CAP_SETUID",
                                  "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SYS_ADMIN",
                                  "CAP_SETFCAP"]),
                  podman: .hex("00000000802405da")),
        // Adding what is already there changes nothing.
        MergeCase(add: ["CHOWN"], drop: [], docker: .hex("00000000800405fb"), podman: .hex("00000000800405fb")),
        // Drop ALL, then add some: exactly the adds.
        MergeCase(add: ["chown", "net_bind_service"], drop: ["ALL"],
                  docker: .names(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]),
                  podman: .names(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"])),
        MergeCase(add: [], drop: ["all"], docker: .hex("0000000000000000"), podman: .hex("0000000000000000")),
        // Add ALL: everything ALL means, minus the named drops.
        MergeCase(add: ["ALL"], drop: [], docker: .hex("000001ffffffffff"), podman: .hex("000001ffffffffff")),
        MergeCase(add: ["ALL"], drop: ["SYS_ADMIN"], docker: .hex("000001ffffdfffff"), podman: .hex("000001ffffdfffff")),
        // Add ALL and drop ALL: Docker's add-ALL branch comes first; Podman refuses.
        MergeCase(add: ["ALL"], drop: ["ALL"], docker: .hex("000001ffffffffff"),
                  podman: .error("adding all capabilities and dropping all capabilities is not allowed")),
        // Same capability in both: Docker drops then adds (added); Podman refuses.
        MergeCase(add: ["NET_ADMIN"], drop: ["net_admin"], docker: .hex("00000000800415fb"),
                  podman: .error("capability \"CAP_NET_ADMIN\" cannot be dropped and added")),
        MergeCase(add: ["CHOWN"], drop: ["CHOWN"], docker: .hex("00000000800405fb"),
                  podman: .error("capability \"CAP_CHOWN\" cannot be dropped and added")),
        // Unknown names; the drops are checked first in both engines.
        MergeCase(add: [], drop: ["NOPE"], docker: .error("unknown capability \"CAP_NOPE\""),
                  podman: .error("unknown capability \"CAP_NOPE\"")),
        MergeCase(add: ["bad1"], drop: ["bad2"], docker: .error("unknown capability \"CAP_BAD2\""),
                  podman: .error("unknown capability \"CAP_BAD2\"")),
        MergeCase(add: ["CAP_ALL"], drop: [], docker: .error("unknown capability \"CAP_ALL\""),
                  podman: .error("unknown capability \"CAP_ALL\"")),
    ]

    @Test(arguments: mergeCases)
    func dockerMergeRules(c: MergeCase) {
        check(c.docker, rules: .docker, c)
    }

    @Test(arguments: mergeCases)
    func podmanMergeRules(c: MergeCase) {
        check(c.podman, rules: .podman, c)
    }

    private func check(_ expected: Outcome, rules: Capabilities.MergeRules, _ c: MergeCase,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let mask = try Capabilities.effectiveSet(defaults: Self.podmanDefaults, add: c.add, drop: c.drop,
                                                     rules: rules, universe: Self.universe41)
            switch expected {
            case .names(let names): #expect(mask.names == names, sourceLocation: sourceLocation)
            case .hex(let hex): #expect(mask.hex == hex, sourceLocation: sourceLocation)
            case .error(let message):
                Issue.record("expected \"\(message)\", got \(mask.names)", sourceLocation: sourceLocation)
            }
        } catch let error as RuntimeError {
            guard case .error(let message) = expected else {
                Issue.record("unexpected error \(error.message)", sourceLocation: sourceLocation)
                return
            }
            #expect(error.code == .invalidArgument, sourceLocation: sourceLocation)
            #expect(error.message == message, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func badDefaultsFailEvenWithoutAddOrDrop() {
        let error = #expect(throws: RuntimeError.self) {
            try Capabilities.effectiveSet(defaults: ["CHOWN", "CHOWNN"], add: [], drop: [])
        }
        #expect(error?.message == "unknown capability \"CAP_CHOWNN\"")
    }

    /// Without an explicit universe, Docker's ALL is every capability the kernel knows and
    /// Podman's is this process's bounding set.
    @Test func addAllUsesTheKernelOrTheBoundingSet() throws {
        let docker = try Capabilities.effectiveSet(defaults: Self.podmanDefaults, add: ["all"], drop: ["mknod"])
        #expect(docker == CapabilityMask.kernelKnown.subtracting(try CapabilityMask(names: ["MKNOD"])))
        let bounding = try CapabilityMask.currentBounding()
        #expect(bounding.subtracting(.kernelKnown).isEmpty)
        let podman = try Capabilities.effectiveSet(defaults: Self.podmanDefaults, add: ["all"], drop: ["mknod"],
                                                   rules: .podman)
        #expect(podman == bounding.subtracting(try CapabilityMask(names: ["MKNOD"])))
    }
}

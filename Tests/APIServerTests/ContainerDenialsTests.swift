import Config
import MonitorProtocol
import OCI
import Testing

@testable import APIServer

/// Why each syscall is refused, worked out at create time from the profile, the capabilities
/// and where they were set.
@Suite struct ContainerDenialsTests {
    static let profile = SeccompProfile(
        source: "/etc/containers/seccomp.json", defaultAction: .errno, defaultErrnoRet: 1,
        syscalls: [
            .init(names: ["read", "write"], action: .allow),
            .init(names: ["chroot"], action: .allow, includes: .init(caps: ["CAP_SYS_CHROOT"])),
            .init(names: ["mount", "umount2"], action: .errno, errnoRet: 1, excludes: .init(caps: ["CAP_SYS_ADMIN"])),
            .init(names: ["mkdir"], action: .errno, errnoRet: 13, comment: "no directories"),
            .init(names: ["personality"], action: .allow, args: [.init(index: 0, value: 0, op: .equal)]),
        ])

    static func reasons(capabilities: [String], defaults: [String] = ["CHOWN", "SETUID"],
                        capDrop: [String] = []) -> DenialReasons {
        ContainerDenials(profile: profile, capabilities: capabilities, defaults: defaults,
                         defaultsOrigin: .file(path: "/home/u/.config/containers/containers.conf", line: 2),
                         capDrop: capDrop).reasons(container: "web", hint: true)
    }

    @Test func aCapabilityLeftOutOfTheDefaultsNamesTheFileAndLine() {
        let reason = Self.reasons(capabilities: ["CAP_CHOWN", "CAP_SETUID"]).reason(for: "chroot")
        #expect(reason.kind == .capability)
        #expect(reason.capability == "CAP_SYS_CHROOT")
        #expect(reason.setting == "default_capabilities")
        #expect(reason.origin == "/home/u/.config/containers/containers.conf:2")
        #expect(reason.text == "the container lacks CAP_SYS_CHROOT: default_capabilities at "
                + "/home/u/.config/containers/containers.conf:2 leaves it out "
                + "(rule 1 of /etc/containers/seccomp.json allows chroot only with it)")
    }

    @Test func aDroppedCapabilityNamesCapDrop() {
        let reasons = Self.reasons(capabilities: ["CAP_CHOWN"], defaults: ["CHOWN", "SYS_CHROOT"], capDrop: ["sys_chroot"])
        let reason = reasons.reason(for: "chroot")
        #expect(reason.setting == "--cap-drop")
        #expect(reason.origin == "HostConfig.CapDrop")
        #expect(reason.text.hasPrefix("the container lacks CAP_SYS_CHROOT: --cap-drop SYS_CHROOT removed it"))
    }

    @Test func anErrnoRuleThatExcludesACapabilityIsAMissingCapability() {
        let reason = Self.reasons(capabilities: []).reason(for: "umount2")
        #expect(reason.kind == .capability)
        #expect(reason.capability == "CAP_SYS_ADMIN")
        #expect(reason.text.hasSuffix("(rule 2 of /etc/containers/seccomp.json refuses umount2 without it)"))
    }

    @Test func anErrnoRuleIsNamedWithItsIndexAndComment() {
        let reason = Self.reasons(capabilities: []).reason(for: "mkdir")
        #expect(reason.kind == .rule)
        #expect(reason.origin == "/etc/containers/seccomp.json rule 3")
        #expect(reason.text == "rule 3 of /etc/containers/seccomp.json refuses it (SCMP_ACT_ERRNO: no directories)")
    }

    @Test func anythingElseIsTheDefaultAction() {
        let reasons = Self.reasons(capabilities: ["CAP_SYS_CHROOT", "CAP_SYS_ADMIN"])
        #expect(reasons.syscalls["chroot"] == nil)   // allowed: nothing to explain
        #expect(reasons.syscalls["mount"] == nil)
        #expect(reasons.reason(for: "kexec_load").kind == .defaultAction)
        #expect(reasons.reason(for: "kexec_load").text
                == "no rule of /etc/containers/seccomp.json allows it, and its defaultAction SCMP_ACT_ERRNO refuses it")
        #expect(reasons.reason(for: "personality").origin == "/etc/containers/seccomp.json rule 4")
    }

    /// `seccomp-learn=FILE` (the docker CLI's spelling) and `seccomp=learn:FILE` (the API's).
    @Test(arguments: [["seccomp-learn=/p.json"], ["seccomp=learn:/p.json"]])
    func learnOptionsParse(_ options: [String]) throws {
        let parsed = try ContainerValidation.securityOptions(options)
        #expect(parsed.seccompLearn == "/p.json")
        #expect(parsed.seccomp == nil)
    }
}

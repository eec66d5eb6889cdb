import MonitorProtocol
import Testing

@testable import APIServer

/// `skiff explain`'s lines: who was refused (the container's process, an exec, a healthcheck
/// probe's check), then the reason with its setting and origin.
@Suite struct DenialReportTests {
    static let reason = DenialReasons.Reason(kind: .capability, capability: "CAP_SYS_CHROOT",
                                             setting: "default_capabilities", origin: "/c.conf:2",
                                             text: "the container lacks CAP_SYS_CHROOT")

    static func entry(exec: String? = nil, privileged: Bool = false, healthcheck: Bool = false) -> DenialReport.Entry {
        DenialReport.Entry(time: "t", syscall: "chroot", errno: "EPERM", pid: 9, reason: reason, execID: exec,
                           privileged: privileged, healthcheck: healthcheck)
    }

    @Test func namesTheContainersProcessAnExecAndAProbe() {
        let report = DenialReport(container: "web", id: "abc", explained: true, entries: [
            Self.entry(), Self.entry(exec: "0123456789ab"), Self.entry(exec: "0123456789ab", privileged: true),
            Self.entry(exec: "5c0e1f2a3b4d", healthcheck: true),
        ], dropped: 0)
        let tail = ": the container lacks CAP_SYS_CHROOT [setting: default_capabilities, origin: /c.conf:2]"
        #expect(report.lines == [
            "denied chroot EPERM pid 9 at t" + tail,
            "denied chroot EPERM pid 9 exec 0123456789ab at t" + tail,
            "denied chroot EPERM pid 9 exec 0123456789ab (privileged) at t" + tail,
            "denied chroot EPERM pid 9 healthcheck 5c0e1f2a3b4d at t" + tail,
        ])
    }
}

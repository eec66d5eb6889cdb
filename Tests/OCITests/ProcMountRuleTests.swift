import Testing
@testable import OCI

/// `ProcMountRule`: runc's checkProcMount by destination, with runc's words.
struct ProcMountRuleTests {
    @Test(arguments: [
        ("/proc", nil, "\"/proc\" cannot be mounted because it is not of type proc"),
        ("/proc", "tmpfs", "\"/proc\" cannot be mounted because it is not of type proc"),
        ("/proc/sys/kernel", "bind", "\"/proc/sys/kernel\" cannot be mounted because it is inside /proc"),
        ("/proc/self", nil, "\"/proc/self\" cannot be mounted because it is inside /proc"),
    ] as [(String, String?, String)])
    func refusesWhatRuncRefuses(_ destination: String, _ type: String?, _ message: String) {
        #expect(ProcMountRule.refusal(destination: destination, type: type) == message)
    }

    @Test(arguments: [("/proc", "proc"), ("/proc/meminfo", "bind"), ("/proc/uptime", nil), ("/procfs", nil),
                      ("/data", "bind"), ("/sys/fs/cgroup", "bind")] as [(String, String?)])
    func allowsProcfsTheLxcfsFilesAndEverythingElse(_ destination: String, _ type: String?) {
        #expect(ProcMountRule.refusal(destination: destination, type: type) == nil)
    }
}

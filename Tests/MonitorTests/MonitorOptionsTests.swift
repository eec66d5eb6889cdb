import Monitor
import Testing

@Suite struct MonitorOptionsTests {
    static let id = String(repeating: "ab", count: 32)
    static let base = ["--id", id, "--bundle", "/s/containers/x", "--run-dir", "/r/containers/x",
                       "--runtime-root", "/r/runtime", "--store", "/s"]

    @Test func parsesEveryOption() throws {
        let options = try MonitorOptions(parsing: Self.base + ["--tty", "--stdin", "--stdin-once",
                                                               "--restart", "on-failure:3", "--image-worker", "/bin/w"])
        #expect(options.id == Self.id)
        #expect(options.bundle == "/s/containers/x")
        #expect(options.logPath == "/s/containers/x/ctr.log")
        #expect(options.exitPath == "/r/containers/x/exit")
        #expect(options.tty && options.stdin && options.stdinOnce && !options.autoRemove)
        #expect(options.restart == .onFailure(maximumRetries: 3))
        #expect(options.imageWorker == "/bin/w")
    }

    @Test(arguments: [
        (["--id", "abc"], "skiff-monitor: invalid container id \"abc\""),
        (["--bogus"], "skiff-monitor: unknown argument '--bogus'"),
        (["--restart", "sometimes"], "skiff-monitor: invalid restart policy 'sometimes'"),
        (["--restart", "always", "--auto-remove"], "skiff-monitor: --auto-remove and a restart policy exclude each other"),
        (["--store"], "skiff-monitor: --store needs a value"),
    ])
    func refuses(extra: [String], message: String) {
        #expect(throws: MonitorError(message)) { try MonitorOptions(parsing: Self.base + extra) }
    }

    @Test func requiresTheDirectories() {
        #expect(throws: MonitorError("skiff-monitor: --bundle is required")) {
            try MonitorOptions(parsing: ["--id", Self.id])
        }
        #expect(throws: MonitorError("skiff-monitor: --store must be an absolute path")) {
            try MonitorOptions(parsing: Array(Self.base.dropLast()) + ["rel"])
        }
    }
}

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

    // skiff-relay hands the monitor's own arguments back: they must give the same options.
    @Test(arguments: [
        [],
        ["--tty", "--stdin", "--stdin-once", "--restart", "on-failure:3", "--image-worker", "/bin/w"],
        ["--restart", "on-failure"],
        ["--restart", "unless-stopped", "--started", "12345", "--restarts", "2", "--backoff", "400000000"],
        ["--auto-remove"],
    ])
    func argumentsRoundTrip(extra: [String]) throws {
        let options = try MonitorOptions(parsing: Self.base + extra)
        #expect(try MonitorOptions(parsing: options.arguments) == options)
        #expect(!MonitorOptions.isHandBack(options.arguments))
    }

    @Test func parsesTheRelaysHandBack() throws {
        let arguments = ["--exited", "256", "--finished-at", "2024-01-02T03:04:05.5Z", "--listeners", "4,5",
                         "--controls", "7,9"] + Self.base + ["--restart", "always", "--started", "99",
                                                            "--restarts", "3", "--backoff", "800000000"]
        #expect(MonitorOptions.isHandBack(arguments))
        let options = try MonitorOptions(parsing: arguments)
        #expect(options.handBack == HandBack(waitStatus: 256, finishedAt: "2024-01-02T03:04:05.5Z",
                                             attachListener: 4, controlListener: 5, controls: [7, 9]))
        #expect(options.runState == RunState(startedAt: 99, restarts: 3, backoffDelay: 800_000_000))
        #expect(!options.arguments.contains("--exited"))
        #expect(try MonitorOptions(parsing: Self.base).handBack == nil)
    }

    @Test func carriesTheLogsUnmarkedLossesBack() throws {
        let arguments = ["--exited", "0", "--finished-at", "t", "--listeners", "4,5", "--log-lost", "12,0,28"] + Self.base
        let options = try MonitorOptions(parsing: arguments)
        #expect(options.handBack?.logLost == LogLosses(stdout: 12, stderr: 0, errno: 28))
        #expect(!options.arguments.contains("--log-lost"))
    }

    @Test(arguments: [
        (["--log-lost", "1,2,28"], "skiff-monitor: --log-lost needs --exited"),
        (["--exited", "0", "--finished-at", "t", "--listeners", "4,5", "--log-lost", "1,2"],
         "skiff-monitor: --log-lost: not STDOUT-BYTES,STDERR-BYTES,ERRNO: '1,2'"),
    ])
    func refusesBadLogLosses(extra: [String], message: String) {
        #expect(throws: MonitorError(message)) { try MonitorOptions(parsing: Self.base + extra) }
    }

    @Test(arguments: [
        (["--exited", "0"], "skiff-monitor: --exited, --finished-at and --listeners go together"),
        (["--exited", "x", "--finished-at", "t", "--listeners", "4,5"], "skiff-monitor: --exited: bad wait status 'x'"),
        (["--exited", "0", "--finished-at", "t", "--listeners", "4"],
         "skiff-monitor: --listeners: two descriptors, attach and ctl"),
        (["--exited", "0", "--finished-at", "t", "--listeners", "4,-1"], "skiff-monitor: --listeners: bad descriptor '-1'"),
        (["--controls", "4"], "skiff-monitor: --controls needs --exited"),
        (["--restarts", "-1"], "skiff-monitor: --restarts: bad number '-1'"),
    ])
    func refusesABadHandBack(extra: [String], message: String) {
        #expect(throws: MonitorError(message)) { try MonitorOptions(parsing: Self.base + extra) }
    }
}

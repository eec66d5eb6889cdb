import MonitorProtocol
import Testing

@Suite struct ExecArgumentsTests {
    static let exec = String(repeating: "ab", count: 32)
    static let container = String(repeating: "cd", count: 32)

    @Test func roundTripsEveryOption() throws {
        var arguments = ExecArguments(execID: Self.exec, containerID: Self.container, runDirectory: "/run/x/exec/e",
                                      runtimeRoot: "/run/x/runtime", store: "/var/lib/skiff",
                                      args: ["sh", "-c", "echo --tty -- $A"])
        arguments.tty = true
        arguments.stdin = true
        arguments.privileged = true
        arguments.user = (65534, 100, [1, 2])
        arguments.cwd = "/tmp"
        arguments.env = ["A=--env", "B="]
        arguments.consoleSize = (40, 120)
        let parsed = try ExecArguments(parsing: arguments.arguments)
        #expect(parsed == arguments)
        #expect(parsed.args == ["sh", "-c", "echo --tty -- $A"])
        #expect(parsed.env == ["A=--env", "B="])
        #expect(parsed.user?.additionalGids == [1, 2])
        #expect(parsed.consoleSize?.rows == 40 && parsed.consoleSize?.columns == 120)
        #expect(ExecArguments.isExec(arguments.arguments))
    }

    @Test(arguments: [
        (["--exec", exec, "--id", container, "--run-dir", "/r", "--runtime-root", "/t", "--store", "/s"],
         "skiff-monitor: --exec needs a program after --"),
        (["--exec", "xyz", "--id", container, "--run-dir", "/r", "--runtime-root", "/t", "--store", "/s", "--", "true"],
         "skiff-monitor: --exec: invalid id \"xyz\""),
        (["--exec", exec, "--id", container, "--run-dir", "r", "--runtime-root", "/t", "--store", "/s", "--", "true"],
         "skiff-monitor: --run-dir must be an absolute path"),
        (["--exec", exec, "--id", container, "--run-dir", "/r", "--runtime-root", "/t", "--store", "/s",
          "--user", "1", "--", "true"], "skiff-monitor: --user: not UID:GID[:GID,...]: '1'"),
        (["--exec", exec, "--id", container, "--run-dir", "/r", "--runtime-root", "/t", "--store", "/s",
          "--bogus", "--", "true"], "skiff-monitor: unknown argument '--bogus'"),
        (["--exec", exec, "--id", container, "--run-dir", "/r", "--runtime-root", "/t", "--store", "/s",
          "--console-size", "40", "--", "true"], "skiff-monitor: --console-size: not ROWSxCOLUMNS: '40'"),
    ])
    func refusesWhatItCannotRun(argv: [String], message: String) {
        do {
            _ = try ExecArguments(parsing: argv)
            Issue.record("parsed \(argv)")
        } catch {
            #expect(error.step == .monitor)
            #expect(error.message == message)
        }
    }
}

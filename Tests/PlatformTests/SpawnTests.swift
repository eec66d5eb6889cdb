import Testing
@testable import Platform

#if canImport(Glibc)
import Glibc
#endif

struct SpawnTests {
    /// Runs `argv` with /dev/null as stdin and a pipe as stdout (and stderr); its output and exit code.
    static func output(_ argv: [String], _ options: Spawn.Options = Spawn.Options()) throws -> (String, Int32) {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        var options = options
        options.descriptors = [null, fds[1], fds[1]]
        let pid = try Spawn.start(argv, options)
        close(fds[1])
        close(null)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        close(fds[0])
        let status = try #require(Spawn.wait(pid))
        return (String(decoding: bytes, as: UTF8.self), Spawn.exitCode(status))
    }

    @Test func onlyTheGivenDescriptorsReachTheChild() throws {
        // An inheritable descriptor of ours (no close-on-exec) must not reach it.
        let opened = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let stray = dup2(opened, 57)
        close(opened)
        #expect(stray == 57)
        defer { close(stray) }
        let (text, code) = try Self.output(["/bin/sh", "-c", "for fd in 0 1 2 57; do [ -e /proc/$$/fd/$fd ] && echo $fd; done; true"])
        #expect(code == 0)
        #expect(text == "0\n1\n2\n")
    }

    @Test func environmentIsAddedAndOverridden() throws {
        let (text, _) = try Self.output(["sh", "-c", "echo $SKIFF_SPAWN_TEST $PATH"],
                                        Spawn.Options(environment: ["SKIFF_SPAWN_TEST": "given", "PATH": "/bin"], searchPath: true))
        #expect(text == "given /bin\n")
    }

    @Test func newSessionMakesTheChildASessionLeader() throws {
        let (text, _) = try Self.output(["/bin/sh", "-c", "ps -o sid= -p $$; echo $$"], Spawn.Options(newSession: true))
        let fields = text.split(separator: "\n").map { $0.trimmingCharacters(in: " ") }
        #expect(fields.count == 2 && fields[0] == fields[1])
    }

    @Test func exitCodeAndSignal() throws {
        #expect(try Self.output(["/bin/sh", "-c", "exit 7"]).1 == 7)
        #expect(try Self.output(["/bin/sh", "-c", "kill -TERM $$"]).1 == 128 + SIGTERM)
    }

    @Test func aMissingProgramIsAnErrorNamingIt() {
        #expect(throws: SystemError(errno: ENOENT, operation: "spawn", path: "/nonexistent/program")) {
            _ = try Spawn.start(["/nonexistent/program"])
        }
    }

    @Test func capturingErrorsCollectsStandardError() throws {
        let capture = try Spawn.capturingErrors(["sh", "-c", "echo out; echo 'no such map' >&2; exit 1"])
        let result = capture.finish()
        #expect(result.status == 1)
        #expect(result.stderr == "no such map\n")
        #expect(capture.finish().stderr == "no such map\n")
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}

import Testing
@testable import Platform

#if canImport(Glibc)
import Glibc
#endif

struct SyscallTests {
    /// A call that fails with `errors` in turn (-1 and errno), then returns `result`; counts its runs.
    final class Scripted {
        var errors: [Int32]
        let result: Int
        var runs = 0

        init(failing errors: [Int32], then result: Int) {
            self.errors = errors
            self.result = result
        }

        func call() -> Int {
            runs += 1
            guard !errors.isEmpty else { return result }
            errno = errors.removeFirst()
            return -1
        }
    }

    @Test func anInterruptedCallRunsAgain() throws {
        let call = Scripted(failing: [EINTR, EINTR], then: 7)
        #expect(try Syscall.retrying("read", "/x") { call.call() } == 7)
        #expect(call.runs == 3)
    }

    @Test func anotherFailureThrowsNamingTheCallAndObject() {
        let call = Scripted(failing: [EINTR, EIO], then: 7)
        #expect(throws: SystemError(errno: EIO, operation: "read", path: "/var/x")) {
            try Syscall.retrying("read", "/var/x") { call.call() }
        }
        #expect(call.runs == 2)
    }

    @Test func theErrorSaysWhatFailedOnWhat() {
        let path = "/nonexistent-\(getpid())/file"
        do {
            _ = try Syscall.retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
            Issue.record("opened \(path)")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description == "open \(path): No such file or directory")
        }
        #expect(SystemError(errno: EINVAL, operation: "poll", path: "").description == "poll: Invalid argument")
    }

    @Test func theObjectIsBuiltOnlyOnFailure() throws {
        var built = 0
        func object() -> String {
            built += 1
            return "fd 3"
        }
        _ = try Syscall.retrying("read", object()) { 0 }
        #expect(built == 0)
    }

    @Test func withoutANameTheFailureIsReturnedWithItsErrno() {
        let call = Scripted(failing: [EINTR, EAGAIN], then: 7)
        let result = Syscall.retrying { call.call() }
        let code = errno
        #expect(result == -1)
        #expect(code == EAGAIN)
        #expect(call.runs == 2)
    }

    @Test(arguments: [Int32(0), EAGAIN])
    func aReturnedErrorNumberOtherThanEINTRIsTheAnswer(_ answer: Int32) {
        var answers = [EINTR, EINTR, answer]
        let result = Syscall.retryingReturnedError { answers.removeFirst() }
        #expect(result == answer)
        #expect(answers.isEmpty)
    }

    @Test func aRealCallSucceeds() throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var byte: UInt8 = 42
        #expect(try Syscall.retrying("write", "pipe") { write(fds[1], &byte, 1) } == 1)
        close(fds[1])
        var read = [UInt8](repeating: 0, count: 4)
        let n = try read.withUnsafeMutableBytes { (raw) throws(SystemError) in
            try Syscall.retrying("read", "pipe") { Glibc.read(fds[0], raw.baseAddress, raw.count) }
        }
        #expect(n == 1 && read[0] == 42)
        #expect(try read.withUnsafeMutableBytes { raw in Syscall.retrying { Glibc.read(fds[0], raw.baseAddress, raw.count) } } == 0)
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Spawn {
    /// A started helper whose standard error is collected (newuidmap, newgidmap, cp): its pid
    /// and the read end of its standard error.
    public final class Capture {
        public let pid: pid_t
        private let stderr: Int32
        private var result: (status: Int32, stderr: String)?

        init(pid: pid_t, stderr: Int32) {
            self.pid = pid
            self.stderr = stderr
        }

        /// Reads its standard error to the end (the first 64 KiB kept) and waits for it: its
        /// exit code (128 + the signal when killed). Once; later calls repeat the answer.
        public func finish() -> (status: Int32, stderr: String) {
            if let result { return result }
            var output: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { raw in Syscall.retrying { read(stderr, raw.baseAddress, raw.count) } }
                if n <= 0 { break }
                if output.count < 65536 { output += buffer[0..<n] }
            }
            close(stderr)
            let status = Spawn.wait(pid).map(Spawn.exitCode) ?? 128
            let done = (status, String(decoding: output, as: UTF8.self))
            result = done
            return done
        }
    }

    /// Starts `argv` (a name looked up in PATH, or a path) with /dev/null as its standard input
    /// and output and a pipe as its standard error, which `finish()` collects.
    public static func capturingErrors(_ argv: [String]) throws(SystemError) -> Capture {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SystemError(errno: errno, operation: "pipe", path: argv.first ?? "") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer {
            close(fds[1])
            if null >= 0 { close(null) }
        }
        guard null >= 0 else {
            close(fds[0])
            throw SystemError(errno: errno, operation: "open", path: "/dev/null")
        }
        do {
            let pid = try start(argv, Options(descriptors: [null, null, fds[1]], searchPath: true))
            return Capture(pid: pid, stderr: fds[0])
        } catch {
            close(fds[0])
            throw error
        }
    }
}

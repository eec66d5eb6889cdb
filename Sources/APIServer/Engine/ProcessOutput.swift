import CLinux
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Runs a host program (found in PATH) and collects its standard output: `ps` for
/// `/containers/{id}/top`.
enum ProcessOutput {
    static func run(_ argv: [String], limit: Int = 16 << 20) throws -> String {
        var pipe: [Int32] = [-1, -1]
        guard skiff_pipe2(&pipe, O_CLOEXEC) == 0 else {
            throw EngineError(.internal, "pipe: \(String(cString: strerror(errno)))")
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let child: pid_t
        do {
            child = try Spawn.start(argv, descriptors: [null, pipe[1], pipe[1]], searchPath: true)
        } catch {
            close(pipe[1])
            close(pipe[0])
            throw error
        }
        close(pipe[1])
        defer { close(pipe[0]) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in Syscall.retrying { read(pipe[0], raw.baseAddress, raw.count) } }
            if n <= 0 { break }
            if output.count < limit { output += buffer[..<n] }
        }
        var wstatus: Int32 = 0
        _ = Syscall.retrying { waitpid(child, &wstatus, 0) }
        let text = String(decoding: output, as: UTF8.self)
        guard wstatus == 0 else {
            throw EngineError(.internal, "\(argv.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

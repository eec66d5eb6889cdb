import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Runs a host program (found in PATH) and collects its standard output: `ps` for
/// `/containers/{id}/top`.
enum ProcessOutput {
    static func run(_ argv: [String], limit: Int = 16 << 20) throws -> String {
        var pipe: [Int32] = [-1, -1]
        guard skiff_pipe2(&pipe, O_CLOEXEC) == 0 else {
            throw APIError(.internalServerError, "pipe: \(String(cString: strerror(errno)))")
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, null, 0)
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 2)
        _ = skiff_spawn_closefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawnp(&child, argv[0], &actions, &attributes, cArgs, environ)
        close(pipe[1])
        defer { close(pipe[0]) }
        guard status == 0 else {
            throw APIError(.internalServerError, "cannot run \(argv[0]): \(String(cString: strerror(status)))")
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if output.count < limit { output += buffer[..<n] }
        }
        var wstatus: Int32 = 0
        while waitpid(child, &wstatus, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        guard wstatus == 0 else {
            throw APIError(.internalServerError, "\(argv.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

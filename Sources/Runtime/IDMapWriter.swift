#if canImport(Glibc)
import Glibc
#endif

/// Writes a new user namespace's id maps: directly when allowed (root, or only the caller's own
/// id), else through the setuid `newuidmap`/`newgidmap` helpers, which check /etc/subuid and
/// /etc/subgid.
public enum IDMapWriter {
    public static func write(pid: Int32, uid: [IDMapping], gid: [IDMapping], id: String) throws {
        let isRoot = getuid() == 0
        let ownGIDOnly = gid.count == 1 && gid[0].hostID == getgid() && gid[0].size == 1
        let ownUIDOnly = uid.count == 1 && uid[0].hostID == getuid() && uid[0].size == 1
        // The setuid helpers run at the same time (each takes a millisecond or two to start).
        var helpers: [(String, [IDMapping], Subprocess.Running)] = []
        defer { for (_, _, running) in helpers { _ = running.finish() } }
        if isRoot || ownGIDOnly {
            if !isRoot {
                // An unprivileged process may map its own gid only after giving up setgroups.
                try writeProc(pid: pid, file: "setgroups", text: "deny", id: id)
            }
            try writeProc(pid: pid, file: "gid_map", text: gid.procText, id: id)
        } else {
            helpers.append(("newgidmap", gid, try Subprocess.start(["newgidmap", String(pid)] + gid.helperArguments)))
        }
        if isRoot || ownUIDOnly {
            try writeProc(pid: pid, file: "uid_map", text: uid.procText, id: id)
        } else {
            helpers.append(("newuidmap", uid, try Subprocess.start(["newuidmap", String(pid)] + uid.helperArguments)))
        }
        let finished = helpers.map { ($0.0, $0.1, $0.2.finish()) }
        helpers = []
        for (helper, mappings, result) in finished where result.status != 0 {
            let message = result.stderr.trimmingNewline
            throw RuntimeError(.permissionDenied,
                "create \(id): \(helper) \(pid) \(mappings.helperArguments.joined(separator: " ")): "
                + (message.isEmpty ? "exit status \(result.status)" : message))
        }
    }

    private static func writeProc(pid: Int32, file: String, text: String, id: String) throws {
        let path = "/proc/\(pid)/\(file)"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.system("create \(id): open \(path)") }
        defer { close(fd) }
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else { throw FileIO.system("create \(id): write \(path) \"\(text.trimmingNewline)\"") }
    }
}

extension String {
    var trimmingNewline: String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}

/// Runs a helper program and collects its exit status and standard error.
enum Subprocess {
    /// A started helper: its pid and the read end of its standard error.
    final class Running {
        let pid: pid_t
        let stderr: Int32
        private var result: (status: Int32, stderr: String)?

        init(pid: pid_t, stderr: Int32) {
            self.pid = pid
            self.stderr = stderr
        }

        /// Reads its standard error to the end and waits for it (once; later calls repeat it).
        func finish() -> (status: Int32, stderr: String) {
            if let result { return result }
            var output: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(stderr, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if output.count < 65536 { output += buffer[0..<n] }
            }
            close(stderr)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            let done = (exit, String(decoding: output, as: UTF8.self))
            result = done
            return done
        }
    }

    static func run(_ argv: [String]) throws -> (status: Int32, stderr: String) {
        try start(argv).finish()
    }

    static func start(_ argv: [String]) throws -> Running {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw FileIO.system("pipe") }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children must not inherit a blocked signal mask from a service thread.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        let strings = CStrings()
        var cArgs: [UnsafeMutablePointer<CChar>?] = strings.array(argv).map { UnsafeMutablePointer(mutating: $0) } + [nil]
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, &cArgs, environ)
        close(pipeFDs[1])
        guard rc == 0 else {
            close(pipeFDs[0])
            throw RuntimeError(rc == ENOENT ? .notFound : .system, "\(argv[0]): \(errnoText(rc))", errno: rc)
        }
        return Running(pid: pid, stderr: pipeFDs[0])
    }
}

import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn as the service uses it for its helpers (the monitor, the image worker, `ps`):
/// the given descriptors become the child's 0, 1, 2, 3..., every other descriptor is closed
/// (the listening socket above all must not outlive the service in a monitor), the signal mask
/// is cleared (the service blocks SIGTERM and friends for sigwait) and SIGPIPE is default again.
enum Spawn {
    /// Starts `argv` (`argv[0]` a path, or a name looked up in PATH with `searchPath`) with
    /// `descriptors[i]` as its descriptor i and this process's environment plus `environment`.
    /// Returns the pid; the caller waits for it.
    static func start(_ argv: [String], descriptors: [Int32], environment: [String: String] = [:],
                      newSession: Bool = false, searchPath: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, fd) in descriptors.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, fd, Int32(target))
        }
        _ = skiff_spawn_closefrom(&actions, Int32(descriptors.count))
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= skiff_posix_spawn_setsid() }
        posix_spawnattr_setflags(&attributes, flags)

        var env: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if environment[name] == nil { env.append(text) }
            entry += 1
        }
        for (name, value) in environment { env.append(name + "=" + value) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = searchPath ? posix_spawnp(&child, argv[0], &actions, &attributes, cArgs, cEnv)
                                : posix_spawn(&child, argv[0], &actions, &attributes, cArgs, cEnv)
        guard status == 0 else {
            throw EngineError(.internal, "cannot run \(argv[0]): \(String(cString: strerror(status)))")
        }
        return child
    }
}

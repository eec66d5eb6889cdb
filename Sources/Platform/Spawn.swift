#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn as Skiff's processes start their helpers (the service its monitors, image
/// workers, the runtime and `ps`; the runtime newuidmap, newgidmap and cp): the child's signal
/// mask is cleared (the service blocks SIGTERM and friends for sigwait) and SIGPIPE is default
/// again (the service ignores it); the given descriptors become the child's 0, 1, 2, 3... and
/// every other one is closed (a service's listening socket must not live on in a monitor).
public enum Spawn {
    /// What the child gets besides its argv.
    public struct Options: Sendable {
        /// `descriptors[i]` becomes the child's descriptor i and every descriptor above is
        /// closed; nil: the child inherits what is not close-on-exec.
        public var descriptors: [Int32]?
        /// Added to (and overriding) this process's environment.
        public var environment: [String: String]
        /// The child starts a new session (setsid): no signal from this one's terminal.
        public var newSession: Bool
        /// `argv[0]` is a name looked up in PATH (else a path).
        public var searchPath: Bool

        public init(descriptors: [Int32]? = nil, environment: [String: String] = [:], newSession: Bool = false,
                    searchPath: Bool = false) {
            self.descriptors = descriptors
            self.environment = environment
            self.newSession = newSession
            self.searchPath = searchPath
        }
    }

    /// Starts `argv`; returns the pid, for the caller to wait for (`wait(_:)`).
    public static func start(_ argv: [String], _ options: Options = Options()) throws(SystemError) -> pid_t {
        guard let program = argv.first else { throw SystemError(errno: EINVAL, operation: "spawn", path: "(no program)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let descriptors = options.descriptors {
            for (target, fd) in descriptors.enumerated() {
                posix_spawn_file_actions_adddup2(&actions, fd, Int32(target))
            }
            closeFrom(&actions, Int32(descriptors.count))
        }
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
        if options.newSession { flags |= setsidFlag }
        posix_spawnattr_setflags(&attributes, flags)

        var env: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if options.environment[name] == nil { env.append(text) }
            entry += 1
        }
        for (name, value) in options.environment { env.append(name + "=" + value) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = options.searchPath ? posix_spawnp(&child, program, &actions, &attributes, cArgs, cEnv)
                                        : posix_spawn(&child, program, &actions, &attributes, cArgs, cEnv)
        guard status == 0 else { throw SystemError(errno: status, operation: "spawn", path: program) }
        return child
    }

    /// Waits for `pid` (retrying EINTR); its wait status, nil when it cannot be waited for.
    public static func wait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        return Syscall.retrying { waitpid(pid, &status, 0) } < 0 ? nil : status
    }

    /// A wait status as a shell shows it: the exit code, or 128 + the signal.
    public static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// glibc's POSIX_SPAWN_SETSID (declared only under _GNU_SOURCE).
    static let setsidFlag: Int16 = 0x80

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+, declared only under
    /// _GNU_SOURCE), looked up once; nil in a static executable or an older glibc.
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            return nil
        }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Closes every descriptor from `from` up in the child: with closefrom when glibc has it,
    /// else each descriptor this process has open now (/proc/self/fd).
    private static func closeFrom(_ actions: inout posix_spawn_file_actions_t, _ from: Int32) {
        if let addCloseFrom, addCloseFrom(&actions, from) == 0 { return }
        for name in FileSystem.directoryEntries("/proc/self/fd") ?? [] {
            if let fd = Int32(name), fd >= from { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }
}

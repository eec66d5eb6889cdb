import CLinux
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The engine's side of the OCI runtime (Podman's `OCIRuntime`): the service asks the runtime
/// to pause, resume and delete a container through its command line (`skiff-runtime`, crun's
/// verbs), under the state root the monitors create containers in. The runtime's state files
/// and the containers' cgroups are the runtime's alone: the service neither reads the one nor
/// writes the other (Tests/integration/test_boundaries.py). Signals to the container's process
/// go from the engine to the pid (and start time) it recorded in the Store, without a process
/// exec on the way.
struct OCIRuntimeClient: Sendable {
    /// The runtime's executable (`skiff-runtime` beside `skiff`).
    let executable: String
    /// Its state root (`--root`): `<run>/runtime`.
    let root: String

    /// Freezes every process of the container (its freezer cgroup). The runtime refuses a
    /// container without cgroups (rootless, or without cgroup v1 hierarchies).
    func pause(_ id: String) throws {
        try run("pause", [id])
    }

    /// Thaws a paused container.
    func resume(_ id: String) throws {
        try run("resume", [id])
    }

    /// New limits for a running container's cgroups (`skiff-runtime update --memory N ...`: runc's
    /// flags). A value the kernel refuses (a memory limit below what the container uses) is
    /// `.invalidArgument` (the runtime's exit status 3); any other failure `.internal`.
    func update(_ id: String, flags: [String]) throws {
        try run("update", flags + [id], refusedStatus: 3)
    }

    /// Removes the container's runtime state and cgroups; with `force` its process is killed
    /// first (and a container the runtime has no state for is no error: its default cgroups
    /// are removed if left).
    func delete(_ id: String, force: Bool) throws {
        try run("delete", force ? ["--force", id] : [id])
    }

    /// Runs `executable --root ROOT COMMAND ARGS` and waits for it; a failure carries the
    /// runtime's own message (its standard error).
    private func run(_ command: String, _ arguments: [String], refusedStatus: Int32? = nil) throws {
        var pipe: [Int32] = [-1, -1]
        guard skiff_pipe2(&pipe, O_CLOEXEC) == 0 else {
            throw EngineError(.internal, "runtime \(command): pipe: \(String(cString: strerror(errno)))")
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let child: pid_t
        do {
            child = try Spawn.start([executable, "--root", root, command] + arguments, descriptors: [null, null, pipe[1]])
        } catch {
            close(pipe[0])
            close(pipe[1])
            throw error
        }
        close(pipe[1])
        let message = readAll(pipe[0])
        close(pipe[0])
        var status: Int32 = 0
        guard Syscall.retrying({ waitpid(child, &status, 0) }) >= 0 else {
            throw EngineError(.internal, "runtime \(command) \(arguments.last ?? ""): wait: \(String(cString: strerror(errno)))")
        }
        guard status != 0 else { return }
        var text = message[...].trimmingWhitespace
        let prefix = "skiff runtime: "
        if text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        let how = (status & 0x7f) == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
        let refused = refusedStatus.map { (status & 0x7f) == 0 && (status >> 8) & 0xff == $0 } ?? false
        throw EngineError(refused ? .invalidArgument : .internal,
                          text.isEmpty ? "runtime \(command) \(arguments.last ?? ""): \(how)" : String(text))
    }

    /// What the runtime wrote to its standard error, up to 64 KiB.
    private func readAll(_ fd: Int32) -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in Syscall.retrying { read(fd, raw.baseAddress, raw.count) } }
            if n <= 0 { break }
            if output.count < 1 << 16 { output += buffer[..<n] }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension Engine {
    /// The runtime the monitors create this engine's containers with.
    var runtime: OCIRuntimeClient {
        OCIRuntimeClient(executable: Engine.executableBeside("skiff-runtime"), root: config.runtimeDirectoryPath + "/runtime")
    }
}

extension Engine {
    /// Whether the runtime may still hold something of an ended container (its state, its
    /// cgroups, a process), so that `rm` must ask it to delete. Not when its monitor got to the
    /// end of its last run: the monitor has the runtime remove the container's state right after
    /// recording the exit, then unlinks its control socket, so an exit file without a control
    /// socket says the runtime holds nothing (the run directory is the engine's and the
    /// monitor's contract, not the runtime's). A monitor still finishing is waited for (up to
    /// `milliseconds`). Anything else (a monitor killed, a start that never ran) asks the runtime.
    func runtimeMayHoldState(_ record: ContainerRecord, _ paths: ContainerPaths, milliseconds: Int32 = 2000) -> Bool {
        if record.monitorPID > 0 && ProcessStat.isAlive(record.monitorPID, startTime: record.monitorStartTime) {
            let pidfd = skiff_pidfd_open(record.monitorPID)
            if pidfd >= 0 {
                var poller = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = Syscall.retrying { poll(&poller, 1, milliseconds) }
                close(pidfd)
            }
        }
        return access(paths.exitFile, F_OK) != 0 || access(paths.controlSocket, F_OK) == 0
    }
}

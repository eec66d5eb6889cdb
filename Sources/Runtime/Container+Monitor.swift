import CRuntime
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The descriptors a container's process gets as standard input, output and error (pipe ends,
/// `/dev/null`). The caller keeps them: close them after `create` returns.
public struct ProcessIO: Sendable, Equatable {
    public var stdin: Int32
    public var stdout: Int32
    public var stderr: Int32

    public init(stdin: Int32, stdout: Int32, stderr: Int32) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// A container created in this process (the monitor), which is its parent: its process waits
/// for `start`. `start(_:)` or `abandon(_:)` ends it.
public struct CreatedProcess: Sendable {
    /// The container's process (in this process's pid namespace).
    public let pid: Int32
    /// The pty master when the spec has `process.terminal`; the caller owns and closes it.
    public let terminal: Int32?
    /// The runtime's end of the sync socket: EOF once the program is executed, or the reason
    /// it could not be.
    let sync: Int32
    /// Explained denials (docs/denials.md): the seccomp listener (the caller owns and closes
    /// it) and the original program, which decides each answer; nil: not explained.
    public let seccompListener: Int32?
    public let seccompProgram: [UInt8]
    /// With `sendsNamespaces`: descriptors of its network and user namespaces (-1 otherwise),
    /// for a network helper to join; the caller owns and closes them.
    public var namespaces: (network: Int32, user: Int32) = (-1, -1)
}

extension Container {
    /// Creates the container from `bundle` with `stdio` as its process's 0, 1 and 2 (ignored
    /// with a terminal: the pty's slave is all three, and its master comes back). The process
    /// waits for `start(_:)`. A failure leaves no state and no process behind; a program that
    /// cannot be found fails here, as `exec: "foo": executable file not found in $PATH`.
    /// `sharedUserNamespaceKeeper`: as `createChild`'s (rootless: the shared user namespace);
    /// `userNamespace`: as `createChild`'s.
    /// `whileChildSetsUp`: the caller's work that fits in the child's set-up (`ChildLauncher`).
    /// `explainDenials`: when the spec asks for it (annotation `run.skiff.explain-denials`),
    /// refused syscalls go to a seccomp listener that comes back with the process.
    public func create(bundle: String, stdio: ProcessIO, sharedUserNamespaceKeeper: String? = nil,
                       explainDenials: Bool = false,
                       serveNotification: ((Int32, [UInt8]) -> Void)? = nil,
                       whileChildSetsUp: (() -> Void)? = nil, sendsNamespaces: Bool = false,
                       userNamespace: Int32 = -1,
                       warn: (String) -> Void = { _ in }) throws -> CreatedProcess {
        var original: [UInt8] = []
        let child = try createChild(bundle: bundle, consoleSocket: nil, pidFile: nil, stdio: stdio,
                                    sharedUserNamespaceKeeper: sharedUserNamespaceKeeper,
                                    explainDenials: explainDenials, originalProgram: { original = $0 },
                                    serveNotification: serveNotification.map { serve in { serve($0, original) } },
                                    whileChildSetsUp: whileChildSetsUp, sendsNamespaces: sendsNamespaces,
                                    userNamespace: userNamespace, warn: warn)
        var created = CreatedProcess(pid: child.pid, terminal: child.consoleMaster, sync: child.sync,
                                     seccompListener: child.seccompListener, seccompProgram: original)
        created.namespaces = child.namespaces
        return created
    }

    /// Starts a container `create(bundle:stdio:)` made and waits until its program is executed;
    /// a failure between start and exec (the exec itself, seccomp) is thrown with the runtime's
    /// message. The process is then reaped by the caller (it is its child).
    /// `serveNotification`: answers one notification of `process.seccompListener` (the
    /// child's last calls before exec run under its filter).
    public func start(_ process: CreatedProcess, serveNotification: (() -> Void)? = nil) throws {
        defer { close(process.sync) }
        try start()
        let child = LaunchedChild(pid: process.pid, consoleMaster: nil, sync: process.sync,
                                  seccompListener: process.seccompListener)
        try child.waitForExec(id: id, serveNotification: serveNotification)
    }

    /// Gives up a created container that will not be started: kills its process and waits for
    /// it, and removes its state. The terminal master, if any, stays with the caller.
    public func abandon(_ process: CreatedProcess) {
        close(process.sync)
        if let listener = process.seccompListener { close(listener) }
        _ = Glibc.kill(process.pid, SIGKILL)
        _ = Spawn.wait(process.pid)
        try? delete(force: true)
    }

    /// Removes the state of a container whose process has exited (and was reaped by the
    /// caller), and its cgroups (as `removeCgroups()`: ask `cgroupOOMKilled()` before). Nothing
    /// to do when it is already gone.
    public func removeState() {
        if let state = try? directory.read(id: id) {
            try? removeCgroups(of: state, context: "delete \(id)")
        } else {
            try? removeDefaultCgroups(context: "delete \(id)")
        }
        FileIO.removeTree(directory.path)
    }
}

extension RuntimeError {
    /// The message without the `create <id>: ` / `<id>: ` context this module adds, as the
    /// engine reports it to a client (`exec: "foo": executable file not found in $PATH`).
    public func message(withoutContext id: String) -> String {
        for prefix in ["create \(id): ", "start \(id): ", "\(id): "] where message.hasPrefix(prefix) {
            return String(message.dropFirst(prefix.count))
        }
        return message
    }
}

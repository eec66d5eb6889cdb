import CRuntime
import OCI
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// One container under a state root, with the OCI runtime lifecycle: create, start, state, kill,
/// delete (and run = create + start + wait).
public struct Container: Sendable {
    public let id: String
    /// The state root (`--root`): one directory per container.
    public let root: String
    /// Where the cgroup v1 hierarchies are mounted; tests point it at a directory tree of their
    /// own (see `CgroupV1.emulated`).
    var cgroupRoot = CgroupV1.defaultRoot
    /// Where cgroup v2 cgroups are made (`CgroupHost.v2Base`); tests give a recorded tree.
    /// nil: found from the host (a configured parent, the delegation, the mount as root).
    var cgroupV2Base: String?

    public init(id: String, root: String) throws {
        try Container.validate(id: id)
        self.id = id
        self.root = root
    }

    var directory: StateDirectory { StateDirectory(path: root + "/" + id) }

    /// Ids as runc accepts them: letters, digits, `_`, `+`, `-`, `.`; not `.` or `..`.
    static func validate(id: String) throws {
        let allowed = id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
        }
        guard !id.isEmpty, id.utf8.count <= 1024, allowed, id != ".", id != ".." else {
            throw RuntimeError(.invalidArgument, "invalid container id \"\(id)\"")
        }
    }

    /// The default state root: `$XDG_RUNTIME_DIR/skiff/runtime`, `/run/skiff/runtime` for root.
    public static func defaultRoot(environment: [String: String]) -> String {
        if getuid() == 0 { return "/run/skiff/runtime" }
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/user/\(getuid())"
        return runtime + "/skiff/runtime"
    }

    // MARK: - create

    /// Creates the container from `bundle`: its process is set up and waits for `start`.
    /// Returns the pid. A failure leaves no state behind.
    @discardableResult
    public func create(bundle: String, consoleSocket: String? = nil, pidFile: String? = nil,
                       warn: (String) -> Void = { _ in }) throws -> Int32 {
        let child = try createChild(bundle: bundle, consoleSocket: consoleSocket, pidFile: pidFile, warn: warn)
        close(child.sync)
        return child.pid
    }

    /// `waitForStart`: the process waits on exec.fifo for `start` (create); without it, it execs
    /// as soon as it is set up (run).
    /// `stdio`: the process's 0, 1 and 2 (else this process's own); with it, a terminal's master
    /// stays with the caller (`LaunchedChild.consoleMaster`) instead of going to a console socket.
    /// `sharedUserNamespaceKeeper`: skiff-relay, to join (or make) the user namespace rootless
    /// containers share (`SharedUserNamespace`) instead of mapping a new one; `userNamespace`
    /// (the caller's descriptor, >= 0), rootless, one to join instead of either: the one user-defined
    /// networks are in (docs/networking.md).
    func createChild(bundle: String, consoleSocket: String?, pidFile: String?, waitForStart: Bool = true,
                     stdio: ProcessIO? = nil, sharedUserNamespaceKeeper: String? = nil,
                     explainDenials: Bool = false, originalProgram: (([UInt8]) -> Void)? = nil,
                     serveNotification: ((Int32) -> Void)? = nil,
                     whileChildSetsUp: (() -> Void)? = nil, sendsNamespaces: Bool = false,
                     userNamespace: Int32 = -1,
                     warn: (String) -> Void) throws -> LaunchedChild {
        let bundle = try Container.absolute(bundle)
        let spec = try Spec.read(bundle: bundle)
        var plan = try LaunchPlan(spec: spec, bundle: bundle, seccompCache: root + "/.seccomp-cache", warn: warn)
        if explainDenials, let original = plan.explainDenials(annotations: spec.annotations) {
            originalProgram?(original)
        }
        let cgroupV2 = try planCgroupV2(spec: spec, warn: warn)
        let cgroups = cgroupV2 != nil || Container.cgroupsDisabled(spec) ? nil
            : try CgroupV1.plan(id: id, resources: spec.linux?.resources, cgroupsPath: spec.linux?.cgroupsPath,
                                root: cgroupRoot, warn: warn)
        plan.expandCgroupMounts(containerCgroups: cgroups)
        // The plan as written: a copy of the layers (no overlay here) maps a namespace of its own.
        let ownNamespacePlan = plan
        var sharedNamespace: Int32 = -1
        defer { if sharedNamespace >= 0 { close(sharedNamespace) } }
        // (Default rootless maps: never as root.)
        if userNamespace >= 0, plan.newUserNamespace, plan.rootlessDefaultMappings, !plan.forceRootfsCopy {
            plan.joinUserNamespace(fd: userNamespace)
        } else if let keeper = sharedUserNamespaceKeeper, plan.newUserNamespace, plan.rootlessDefaultMappings,
           !plan.forceRootfsCopy {
            try makeDirectory(root, mode: 0o700)
            // Without it (no keeper could be made) the container maps a namespace of its own.
            if let fd = try? SharedUserNamespace.acquire(runtimeRoot: root, relay: keeper, uid: plan.uidMappings,
                                                         gid: plan.gidMappings, id: "create \(id)") {
                sharedNamespace = fd
                plan.joinUserNamespace(fd: fd)
            }
        }
        if plan.terminal && consoleSocket == nil && stdio == nil {
            throw RuntimeError(.invalidArgument, "create \(id): process.terminal needs --console-socket")
        }
        if let stdio { plan.stdio = (stdio.stdin, stdio.stdout, stdio.stderr) }

        try makeDirectory(root, mode: 0o700)
        guard mkdir(directory.path, 0o700) == 0 else {
            if errno == EEXIST { throw RuntimeError(.exists, "container \"\(id)\" already exists") }
            throw FileIO.system("create \(id): mkdir \(directory.path)")
        }
        do {
            if let cgroups {
                try cgroups.create(context: "create \(id)")
                plan.cgroups = cgroups
            }
            if let cgroupV2 {
                try cgroupV2.create(context: "create \(id)")
                plan.cgroupV2 = cgroupV2
            }
            if waitForStart {
                // The container's process opens the fifo for writing after it took the container's
                // identity: 0622 as runc makes it (the state directory itself is 0700), and as
                // root owned by the host ids the container's user maps to.
                guard mkfifo(directory.startFifo, 0o622) == 0, chmod(directory.startFifo, 0o622) == 0 else {
                    throw FileIO.system("create \(id): mkfifo")
                }
                if getuid() == 0 && plan.newUserNamespace,
                   let hostUID = plan.uidMappings.hostID(for: plan.uid),
                   let hostGID = plan.gidMappings.hostID(for: plan.gid) {
                    guard chown(directory.startFifo, hostUID, hostGID) == 0 else {
                        throw FileIO.system("create \(id): chown exec.fifo")
                    }
                }
                plan.startFifo = directory.startFifo
            }
            plan.sendsNamespaces = sendsNamespaces && plan.cloneFlags & Int32(SKIFF_CLONE_NEWNET) != 0
            if plan.rootfsFSType == "overlay" && plan.forceRootfsCopy {
                try RootfsCopy.apply(plan, id: "create \(id)")
                plan.rootfsFSType = nil
            }
            var child: LaunchedChild
            do {
                child = try ChildLauncher.launch(plan, idForErrors: "create \(id)", whileChildSetsUp: whileChildSetsUp,
                                                 serveNotification: serveNotification)
            } catch let error as RuntimeError where plan.rootfsFSType == "overlay" && RootfsCopy.isUnavailable(error) {
                warn("\(error.message); copying the layers instead")
                try RootfsCopy.apply(ownNamespacePlan, id: "create \(id)")
                plan.rootfsFSType = nil
                child = try ChildLauncher.launch(plan, idForErrors: "create \(id)", whileChildSetsUp: whileChildSetsUp,
                                                 serveNotification: serveNotification)
            }
            do {
                if let master = child.consoleMaster, let consoleSocket {
                    defer { close(master) }
                    try Container.sendConsole(master, to: consoleSocket, id: id)
                }
                guard let info = ProcessInfo.stat(child.pid) else {
                    throw RuntimeError(.system, "create \(id): the container process exited during set-up")
                }
                try directory.write(ContainerState(
                    ociVersion: spec.ociVersion, id: id, pid: child.pid, pidStartTime: info.startTime,
                    bundle: bundle, rootfs: plan.rootfs ?? "", created: Container.now(),
                    annotations: spec.annotations, cgroups: cgroups?.recorded ?? cgroupV2?.recorded))
                if let pidFile {
                    try FileIO.writeAtomically(pidFile, Array("\(child.pid)".utf8), mode: 0o644)
                }
            } catch {
                Glibc.kill(child.pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(child.pid, &status, 0)
                close(child.sync)
                if let master = child.consoleMaster, consoleSocket == nil { close(master) }
                for fd in [child.namespaces.network, child.namespaces.user] where fd >= 0 { close(fd) }
                throw error
            }
            if consoleSocket != nil { child.consoleMaster = nil }
            return child
        } catch {
            cgroups?.remove()
            cgroupV2?.remove()
            FileIO.removeTree(directory.path)
            throw error
        }
    }

    // MARK: - start, state, kill, delete

    /// Lets a created container's process exec its program.
    public func start() throws {
        let state = try directory.read(id: id)
        guard status(of: state) == .created else {
            throw RuntimeError(.invalidState, "cannot start container \"\(id)\": it is \(status(of: state).rawValue), not created")
        }
        let fd = open(directory.startFifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.system("start \(id): open exec.fifo") }
        defer { close(fd) }
        // The process opens the fifo for writing as soon as a reader exists, then writes a byte.
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var waited = 0
        while waited < 10_000 {
            let n = poll(&poller, 1, 100)
            if n > 0 && poller.revents & Int16(POLLIN) != 0 { break }
            if !ProcessInfo.isAlive(state.pid, startTime: state.pidStartTime) {
                throw RuntimeError(.invalidState, "start \(id): the container process has exited")
            }
            waited += 100
        }
        var byte: UInt8 = 0
        let n = read(fd, &byte, 1)
        guard n == 1 else { throw RuntimeError(.system, "start \(id): the container process did not answer") }
        unlink(directory.startFifo)
    }

    public func state() throws -> StateOutput {
        let state = try directory.read(id: id)
        let current = status(of: state)
        var status = current.rawValue
        if current == .running, let cgroups = CgroupV1(recorded: state.cgroups), cgroups.freezerState == "FROZEN" {
            status = "paused"
        }
        if current == .running, let cgroup = CgroupV2(recorded: state.cgroups), cgroup.isFrozen {
            status = "paused"
        }
        return StateOutput(ociVersion: state.ociVersion, id: id, status: status,
                           pid: current == .stopped ? 0 : state.pid, bundle: state.bundle, rootfs: state.rootfs,
                           created: state.created, annotations: state.annotations)
    }

    /// Sends `signal` to the container's process; with `all` (runc's `kill --all`) to every
    /// process of its cgroup v2 cgroup: SIGKILL through cgroup.kill (one write, which also
    /// reaches frozen processes and ones forking meanwhile), else to each listed process.
    /// (On cgroup v1, and without cgroups, `all` signals the container's process only.)
    public func kill(signal: Int32, all: Bool = false) throws {
        let state = try directory.read(id: id)
        let current = status(of: state)
        guard current == .created || current == .running else {
            throw RuntimeError(.invalidState, "cannot kill container \"\(id)\": it is \(current.rawValue)")
        }
        if all, let cgroup = CgroupV2(recorded: state.cgroups) {
            if signal == SIGKILL && (try? CgroupV2.write(cgroup.path + "/cgroup.kill", "1", context: "kill \(id)",
                                                         create: cgroup.emulated)) != nil {
                return
            }
            for pid in cgroup.processes where pid > 1 { _ = Glibc.kill(pid, signal) }
            return
        }
        guard Glibc.kill(state.pid, signal) == 0 else { throw FileIO.system("kill \(id)") }
    }

    /// Removes a stopped container; with `force`, kills it first. With `force`, a container
    /// without state is no error (as runc's `delete --force`): what a container of this id gets
    /// by default (its cgroups as root) is removed if left.
    public func delete(force: Bool) throws {
        let state: ContainerState
        do {
            state = try directory.read(id: id)
        } catch let error as RuntimeError where error.code == .notFound && force {
            try removeDefaultCgroups(context: "delete \(id)")
            return
        } catch let error as RuntimeError where error.code == .system {
            // Unreadable state is moved aside, never silently lost.
            if force {
                rename(directory.path, directory.path + ".broken-\(time(nil))")
                return
            }
            throw error
        }
        let current = status(of: state)
        if current != .stopped {
            guard force else {
                throw RuntimeError(.invalidState, "cannot delete container \"\(id)\" that is not stopped: \(current.rawValue)")
            }
            _ = Glibc.kill(state.pid, SIGKILL)
            // A frozen process dies only once thawed (cgroup v1).
            if let cgroups = CgroupV1(recorded: state.cgroups), cgroups.freezerState != "THAWED" {
                try? cgroups.thaw(context: "delete \(id)")
            }
            // cgroup v2: every process of the cgroup, frozen or not.
            CgroupV2(recorded: state.cgroups)?.killAll()
            for _ in 0..<500 where ProcessInfo.isAlive(state.pid, startTime: state.pidStartTime) {
                usleep(10_000)
            }
            if ProcessInfo.isAlive(state.pid, startTime: state.pidStartTime) {
                throw RuntimeError(.system, "delete \(id): the process \(state.pid) did not die")
            }
        }
        try removeCgroups(of: state, context: "delete \(id)")
        FileIO.removeTree(directory.path)
    }

    /// create + start + wait: returns the exit code (128 + signal when killed). The state is
    /// deleted afterwards.
    public func run(bundle: String, warn: (String) -> Void = { _ in }) throws -> Int32 {
        // With a new pid namespace unshared after joining a user namespace, the container's
        // process is our grandchild: become its subreaper to wait for it.
        _ = skiff_set_child_subreaper()
        // No create/start split: the process execs as soon as it is set up.
        let child = try createChild(bundle: bundle, consoleSocket: nil, pidFile: nil, waitForStart: false, warn: warn)
        let pid = child.pid
        defer { try? delete(force: true) }
        do {
            defer { close(child.sync) }
            // What fails between set-up and exec (seccomp, exec itself) is reported here.
            try child.waitForExec(id: id)
        } catch {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            throw error
        }
        var status: Int32 = 0
        guard Syscall.retrying({ waitpid(pid, &status, 0) }) >= 0 else { throw FileIO.system("run \(id): wait") }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    func status(of state: ContainerState) -> ContainerState.Status {
        guard ProcessInfo.isAlive(state.pid, startTime: state.pidStartTime) else { return .stopped }
        return access(directory.startFifo, F_OK) == 0 ? .created : .running
    }

    // MARK: - helpers

    static func absolute(_ path: String) throws -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { throw FileIO.system("getcwd") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
    }

    static func now() -> String {
        Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
    }

    func makeDirectory(_ path: String, mode: mode_t) throws {
        do {
            try FileSystem.makeDirectories(path, mode: mode)
        } catch {
            throw RuntimeError(.system, error.description, errno: error.errno)
        }
    }

    /// Sends the pty master to the OCI `--console-socket`.
    static func sendConsole(_ master: Int32, to socketPath: String, id: String) throws {
        let fd: Int32
        do {
            fd = try UnixSocket.connect(socketPath)
        } catch where error.errno == ENAMETOOLONG {
            throw RuntimeError(.invalidArgument, "create \(id): console socket path too long")
        } catch {
            throw RuntimeError(.system, "create \(id): \(error)", errno: error.errno)
        }
        defer { close(fd) }
        guard skiff_send_fd(fd, master) == 0 else { throw FileIO.system("create \(id): send console") }
    }
}

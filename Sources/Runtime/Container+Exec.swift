import CRuntime
import Platform

#if canImport(Glibc)
import Glibc
import OCI
#endif

extension Container {
    /// What `exec` runs: the container's own process settings with some overridden.
    public struct ExecOptions: Sendable {
        public var args: [String]
        /// `KEY=value` entries over the container's environment: one with a key the container
        /// has replaces it (Docker's and runc's rule), others are added.
        public var env: [String] = []
        public var cwd: String?
        public var user: (uid: UInt32, gid: UInt32)?
        /// Supplementary groups with `user` (nil: none, as before).
        public var additionalGids: [UInt32]?
        public var terminal = false
        /// With `terminal`: the pty's size (rows, columns) before the process runs (exec's
        /// ConsoleSize); nil: the kernel's until the first resize.
        public var consoleSize: (rows: UInt16, columns: UInt16)?
        /// Every capability of the bounding set, in all sets but ambient (`docker exec
        /// --privileged`, moby's exec_linux.go); seccomp, no_new_privs and the label stay the
        /// container's.
        public var privileged = false
        /// The container's rlimits apply to the process (runc's and Docker's exec; the engine's
        /// supervisor sets it). Off: the caller's own limits (`skiff-runtime exec`, as before).
        public var containerRlimits = false
        /// The process's 0, 1 and 2 (ignored with a terminal: the pty's slave is all three);
        /// nil: this process's own.
        public var stdio: ProcessIO?
        /// A complete OCI process object instead (`--process FILE`).
        public var process: Spec.Process?
        /// Explained denials (docs/denials.md): when the container's spec asks for it, the
        /// process's refused syscalls (or, learning a profile, all of them) go to a seccomp
        /// listener, offered to `startExec`'s `takeListener` (the engine's supervisor hands it to
        /// the container's). Off: the container's filter as it is (`skiff-runtime exec`).
        public var explainDenials = false

        public init(args: [String]) {
            self.args = args
        }
    }

    /// An exec'd process that runs (its program executed): the caller reaps it (it is a
    /// subreaper, and the process its grandchild) and owns the terminal master.
    public struct ExecProcess: Sendable {
        /// The process, in the caller's pid namespace.
        public let pid: Int32
        /// The pty master when the exec asked for a terminal.
        public let terminal: Int32?
        /// The seccomp listener `takeListener` left here (`ExecOptions.explainDenials`); the
        /// caller owns it.
        public var seccompListener: Int32? = nil
    }

    /// Runs another process in the running container: it joins every namespace the container
    /// has, with the container's capabilities, seccomp filter, label, environment and cwd unless
    /// overridden (and its rlimits with `containerRlimits`). Returns the exit code (128 + signal).
    public func exec(_ options: ExecOptions, warn: (String) -> Void = { _ in }) throws -> Int32 {
        if options.terminal || options.process?.terminal == true {
            throw RuntimeError(.unsupported, "exec \(id): a terminal needs the engine's console handling")
        }
        let process = try startExec(options, warn: warn)
        var status: Int32 = 0
        guard Syscall.retrying({ waitpid(process.pid, &status, 0) }) >= 0 else { throw FileIO.system("exec \(id): wait") }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Starts the process of `exec` and returns once its program is executed; a failure before
    /// (`exec: "foo": executable file not found in $PATH`, a working directory outside the
    /// container) is thrown with the child's step and errno, and leaves no process behind. The
    /// caller becomes a child subreaper (the process is forked into the container's pid
    /// namespace) and waits for the process.
    /// With `options.explainDenials`: `takeListener` is offered the process's seccomp listener
    /// as soon as the child sends it (true: taken, the caller owns it; false: it stays here,
    /// and comes back in `ExecProcess.seccompListener`), and `serveNotification` answers one of
    /// its notifications while the child finishes its set-up (learning: its last calls notify).
    public func startExec(_ options: ExecOptions, warn: (String) -> Void = { _ in },
                          takeListener: ((Int32) -> Bool)? = nil,
                          serveNotification: ((Int32) -> Void)? = nil) throws -> ExecProcess {
        let state = try directory.read(id: id)
        let current = status(of: state)
        guard current == .running || current == .created else {
            throw RuntimeError(.invalidState, "cannot exec in container \"\(id)\": it is \(current.rawValue)")
        }
        let spec = try Spec.read(bundle: state.bundle)
        guard var process = options.process ?? spec.process else {
            throw RuntimeError(.invalidArgument, "exec \(id): config.json has no process")
        }
        if options.process == nil {
            process.args = options.args
            process.env = Container.mergeEnvironment(process.env ?? [], options.env)
            if let cwd = options.cwd { process.cwd = cwd }
            if let user = options.user {
                process.user = Spec.User(uid: user.uid, gid: user.gid, umask: nil, additionalGids: options.additionalGids)
            }
            process.terminal = options.terminal
            if !options.containerRlimits { process.rlimits = nil }
            // The OOM score is inherited from the caller.
            process.oomScoreAdj = nil
            if options.privileged {
                // Every capability this process may hand on (its bounding set): a privileged
                // container's, as the run path gives it (Capabilities.effectiveSet).
                let all = ((try? CapabilityMask.currentBounding()) ?? CapabilityMask.kernelKnown).names
                process.capabilities = Spec.Capabilities(bounding: all, effective: all, inheritable: all,
                                                         permitted: all, ambient: nil)
            }
        }

        var plan = LaunchPlan()
        // Join the container's namespaces through its pid, the user namespace first.
        let order = ["user", "mount", "pid", "ipc", "uts", "network", "cgroup"]
        let present = Set((spec.linux?.namespaces ?? []).map(\.type))
        for type in order where present.contains(type) {
            let file = type == "mount" ? "mnt" : type == "network" ? "net" : type
            plan.join.append(("/proc/\(state.pid)/ns/\(file)", LaunchPlan.namespaceFlags[type]!))
        }
        try plan.applyProcess(process, spec: spec, seccompCache: root + "/.seccomp-cache", warn: warn)
        if options.explainDenials { _ = plan.explainDenials(annotations: spec.annotations) }
        // Into the container's cgroups too (its limits count this process), before it runs.
        plan.cgroups = CgroupV1(recorded: state.cgroups)
        plan.cgroupV2 = CgroupV2(recorded: state.cgroups)
        if plan.terminal { plan.consoleSize = options.consoleSize }
        if let stdio = options.stdio, !plan.terminal {
            plan.stdio = (stdio.stdin, stdio.stdout, stdio.stderr)
        }

        // A process forked into the container's pid namespace is our grandchild: become its
        // subreaper so that we can wait for it.
        _ = skiff_set_child_subreaper()
        let child = try ChildLauncher.launch(plan, idForErrors: "exec \(id)", takeListener: takeListener,
                                             serveNotification: serveNotification)
        defer { close(child.sync) }
        do {
            let listener = child.seccompListener
            try child.waitForExec(id: "exec \(id)", serveNotification: listener.flatMap { fd in
                serveNotification.map { serve in { serve(fd) } }
            })
        } catch {
            if let master = child.consoleMaster { close(master) }
            if let listener = child.seccompListener { close(listener) }
            var status: Int32 = 0
            _ = Syscall.retrying { waitpid(child.pid, &status, 0) }
            throw error
        }
        var started = ExecProcess(pid: child.pid, terminal: child.consoleMaster)
        started.seccompListener = child.seccompListener
        return started
    }

    /// `base` with `overrides` applied: an entry whose key `base` has replaces it in place,
    /// others follow in order (a key given twice in `overrides`: the last wins).
    static func mergeEnvironment(_ base: [String], _ overrides: [String]) -> [String] {
        func key(_ entry: String) -> Substring { entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        var result = base
        for entry in overrides {
            if let index = result.firstIndex(where: { key($0) == key(entry) }) {
                result[index] = entry
            } else {
                result.append(entry)
            }
        }
        return result
    }
}

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
        public var env: [String] = []
        public var cwd: String?
        public var user: (uid: UInt32, gid: UInt32)?
        public var terminal = false
        /// A complete OCI process object instead (`--process FILE`).
        public var process: Spec.Process?

        public init(args: [String]) {
            self.args = args
        }
    }

    /// Runs another process in the running container: it joins every namespace the container
    /// has, with the container's capabilities, seccomp filter, label, environment and cwd unless
    /// overridden. Returns the exit code (128 + signal).
    public func exec(_ options: ExecOptions, warn: (String) -> Void = { _ in }) throws -> Int32 {
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
            process.env = (process.env ?? []) + options.env
            if let cwd = options.cwd { process.cwd = cwd }
            if let user = options.user {
                process.user = Spec.User(uid: user.uid, gid: user.gid, umask: nil, additionalGids: nil)
            }
            process.terminal = options.terminal
            process.rlimits = nil
            process.oomScoreAdj = nil
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
        // Into the container's cgroups too (its limits count this process), before it runs.
        plan.cgroups = CgroupV1(recorded: state.cgroups)
        if plan.terminal {
            throw RuntimeError(.unsupported, "exec \(id): a terminal needs the engine's console handling")
        }

        // A process forked into the container's pid namespace is our grandchild: become its
        // subreaper so that we can wait for it.
        _ = skiff_set_child_subreaper()
        let child = try ChildLauncher.launch(plan, idForErrors: "exec \(id)")
        defer { close(child.sync) }
        do {
            try child.waitForExec(id: "exec \(id)")
        } catch {
            var status: Int32 = 0
            _ = waitpid(child.pid, &status, 0)
            throw error
        }
        var status: Int32 = 0
        guard Syscall.retrying({ waitpid(child.pid, &status, 0) }) >= 0 else { throw FileIO.system("exec \(id): wait") }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

import CRuntime
import Platform
import UserNamespace

#if canImport(Glibc)
import Glibc
#endif

/// Everything the child side needs, resolved by the parent. The C code runs it between clone and
/// execve.
struct LaunchPlan {
    struct BindOrMount {
        var kind: Int32
        var source: String
        var destination: String
        var fstype: String
        var flags: UInt
        var propagation: UInt
        var data: String
        var recursive: Bool
        var sourceIsDirectory: Bool
        /// File system mounts: bound instead when the file system may not be mounted (EPERM,
        /// EBUSY); nil: none.
        var fallbackSource: String? = nil
    }

    var cloneFlags: Int32 = 0
    /// Namespaces to join: (path, CLONE_NEW* type), user namespace first.
    var join: [(path: String, type: Int32)] = []
    var newUserNamespace = false
    /// The new user namespace would be mapped from /etc/subuid and /etc/subgid (rootless, no
    /// maps in the spec): one the service's containers share may be joined instead.
    var rootlessDefaultMappings = false
    var uidMappings: [IDMapping] = []
    var gidMappings: [IDMapping] = []
    var rootfs: String?
    var rootfsFSType: String?
    var rootfsData: String?
    var rootfsReadonly = false
    var rootfsPropagation: UInt = 0
    var mounts: [BindOrMount] = []
    var bindDevices = false
    var maskedPaths: [String] = []
    var readonlyPaths: [String] = []
    var hostname: String?
    var domainname: String?
    var sysctls: [(String, String)] = []
    var rlimits: [(resource: Int32, soft: UInt64, hard: UInt64)] = []
    var oomScoreAdj: Int32?
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var groups: [UInt32] = []
    var capabilities = (bounding: UInt64(0), effective: UInt64(0), permitted: UInt64(0),
                        inheritable: UInt64(0), ambient: UInt64(0))
    var noNewPrivileges = false
    /// Make a missing working directory before entering it (annotation `run.skiff.create-cwd`).
    var createCwd = false
    var selinuxExecLabel: String?
    var seccomp: [UInt8]?
    /// Explained denials (docs/denials.md): `seccomp` is the notifying program
    /// (`Seccomp.notifying`), this the original, which the supervisor runs to answer; the child
    /// sends the listener before `ready`.
    var seccompOriginal: [UInt8]?
    var cwd = "/"
    var args: [String] = []
    var env: [String] = []
    var terminal = false
    /// The pty's size before the process runs (rows, columns); nil: the kernel's default.
    var consoleSize: (rows: UInt16, columns: UInt16)?
    /// The layers of an overlay root (lowest last, as in `lowerdir=`), for the copy fallback.
    var overlayLowerDirs: [String] = []
    var overlayUpperDir: String?
    /// `run.skiff.rootfs-copy` annotation: use the copy fallback even where overlay works.
    var forceRootfsCopy = false
    /// The child hands over its network and user namespaces (`LaunchedChild.namespaces`).
    var sendsNamespaces = false
    /// Wait on this fifo for `start`; nil: exec as soon as set up.
    var startFifo: String?
    /// The process's standard input, output and error; nil: this process's own 0, 1 and 2.
    var stdio: (Int32, Int32, Int32)?
    /// The cgroups (made, limits written) the process is moved into before it is set up; nil:
    /// none (rootless, no cgroup v1).
    var cgroups: CgroupV1?
    /// The cgroup v2 one (delegated subtree, or a configured parent), in place of `cgroups`.
    var cgroupV2: CgroupV2?
    var joinsPidNamespace: Bool { join.contains { $0.type == Int32(SKIFF_CLONE_NEWPID) } }
    /// The process that runs the program is forked once more inside the child (a joined pid
    /// namespace, or a new one unshared after joining a user namespace): its pid comes in a
    /// SKIFF_MSG_PID message.
    var forksIntoPidNamespace: Bool {
        joinsPidNamespace || (join.contains { $0.type == Int32(SKIFF_CLONE_NEWUSER) } && cloneFlags & Int32(SKIFF_CLONE_NEWPID) != 0)
    }
}

/// A child created and set up, stopped before exec (waiting for `start`) or already running.
struct LaunchedChild {
    var pid: Int32
    /// The pty master when the plan asked for a terminal.
    var consoleMaster: Int32?
    /// The parent's end of the sync socket: after `ready`, it reports a failure before exec, or
    /// reaches EOF when the program has been executed. The caller closes it.
    var sync: Int32
    /// The seccomp listener when the plan asked for one (`LaunchPlan.seccompOriginal`); the
    /// caller owns and closes it.
    var seccompListener: Int32? = nil
    /// The network and user namespaces (descriptors the caller closes), when the plan asked.
    var namespaces: (network: Int32, user: Int32) = (-1, -1)

    /// Waits until the child has executed its program (EOF) or reports why it could not. After
    /// `ready` the child sends nothing else: any other message is out of order.
    /// `serveNotification`: answers a notification of the listener, which the child's last
    /// calls before exec may raise (a profile that refuses them); nil: no listener to watch.
    func waitForExec(id: String, serveNotification: (() -> Void)? = nil) throws {
        if let listener = seccompListener, let serveNotification {
            while true {
                var fds = [pollfd(fd: sync, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                let ready = Syscall.retrying { poll(&fds, 2, -1) }
                if ready < 0 { break }
                if fds[1].revents & Int16(POLLIN) != 0 { serveNotification() }
                if fds[0].revents != 0 { break }
            }
        }
        var message = skiff_msg()
        let rc = skiff_msg_recv(sync, &message)
        guard rc == 0 else { return }
        if Int(message.type) == Int(SKIFF_MSG_ERROR.rawValue) {
            throw ChildLauncher.childError(message, id: id)
        }
        throw RuntimeError(.system, "\(id): unexpected message \(message.type) from the child after ready")
    }
}

enum ChildLauncher {
    /// Clones the child, answers its requests (id maps), and returns once it reports ready. Any
    /// failure in the child comes back as "step: object: errno text".
    /// `whileChildSetsUp`: work of the caller's that fits in the time the child spends on its
    /// mounts (run once, after the id maps are written).
    /// `serveNotification`: answers a notification of the child's seccomp listener once it has
    /// sent it (while learning a profile, the child's own set-up after the filter is notified).
    /// `takeListener`: offered the seccomp listener when it comes; true when the caller took it
    /// (it owns and closes it then, and nothing here watches it), false to leave it here.
    static func launch(_ plan: LaunchPlan, idForErrors id: String,
                       whileChildSetsUp: (() -> Void)? = nil,
                       takeListener: ((Int32) -> Bool)? = nil,
                       serveNotification: ((Int32) -> Void)? = nil) throws -> LaunchedChild {
        var fds: [Int32] = [-1, -1]
        let rc = fds.withUnsafeMutableBufferPointer { skiff_socketpair($0.baseAddress) }
        guard rc == 0 else { throw RuntimeError(.system, "\(id): socketpair: \(errnoText(-rc))", errno: -rc) }
        let (parentEnd, childEnd) = (fds[0], fds[1])
        var handedOver = false
        defer { if !handedOver { close(parentEnd) } }

        var joinFDs: [Int32] = []
        defer { for fd in joinFDs { close(fd) } }
        for (path, _) in plan.join {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                close(childEnd)
                throw FileIO.system("\(id): open namespace \(path)", .notFound)
            }
            joinFDs.append(fd)
        }
        var fifoFD: Int32 = -1
        if let fifo = plan.startFifo {
            fifoFD = open(fifo, Int32(SKIFF_O_PATH) | O_CLOEXEC)
            guard fifoFD >= 0 else {
                close(childEnd)
                throw FileIO.system("\(id): open \(fifo)")
            }
        }
        defer { if fifoFD >= 0 { close(fifoFD) } }

        let strings = CStrings()
        let mounts = plan.mounts.map { m in
            skiff_mount(kind: m.kind, source: strings.add(m.source), destination: strings.add(m.destination),
                        fstype: strings.add(m.fstype), flags: m.flags, propagation: m.propagation,
                        data: m.data.isEmpty ? nil : strings.add(m.data), recursive: m.recursive ? 1 : 0,
                        source_is_dir: m.sourceIsDirectory ? 1 : 0,
                        fallback_source: m.fallbackSource.map(strings.add))
        }
        let rlimits = plan.rlimits.map { skiff_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        let masked = strings.array(plan.maskedPaths)
        let readonly = strings.array(plan.readonlyPaths)
        let sysctlKeys = strings.array(plan.sysctls.map { $0.0.replacingDots() })
        let sysctlValues = strings.array(plan.sysctls.map { $0.1 })
        let argv = strings.array(plan.args) + [nil]
        let envp = strings.array(plan.env) + [nil]
        let groups = plan.groups
        let seccomp = plan.seccomp ?? []

        var config = skiff_child_config()
        config.clone_flags = plan.cloneFlags
        withUnsafeMutableBytes(of: &config.setns_fds) { raw in
            let p = raw.bindMemory(to: Int32.self)
            for (i, fd) in joinFDs.prefix(8).enumerated() { p[i] = fd }
        }
        withUnsafeMutableBytes(of: &config.setns_types) { raw in
            let p = raw.bindMemory(to: Int32.self)
            for (i, j) in plan.join.prefix(8).enumerated() { p[i] = j.type }
        }
        config.n_setns = Int32(min(joinFDs.count, 8))
        config.join_pid_namespace = plan.joinsPidNamespace ? 1 : 0
        config.unshare_after_join = plan.join.contains { $0.type == Int32(SKIFF_CLONE_NEWUSER) } ? 1 : 0
        config.sync_fd = childEnd
        config.wait_for_mapping = plan.newUserNamespace ? 1 : 0
        config.rootfs = plan.rootfs.map(strings.add)
        config.rootfs_fstype = plan.rootfsFSType.map(strings.add)
        config.rootfs_data = plan.rootfsData.map(strings.add)
        config.rootfs_readonly = plan.rootfsReadonly ? 1 : 0
        config.rootfs_propagation = plan.rootfsPropagation
        config.n_mounts = Int32(mounts.count)
        config.bind_devices = plan.bindDevices ? 1 : 0
        config.n_masked_paths = Int32(masked.count)
        config.n_readonly_paths = Int32(readonly.count)
        config.hostname = plan.hostname.map(strings.add)
        config.domainname = plan.domainname.map(strings.add)
        config.n_sysctls = Int32(plan.sysctls.count)
        config.n_rlimits = Int32(rlimits.count)
        config.set_oom_score_adj = plan.oomScoreAdj == nil ? 0 : 1
        config.oom_score_adj = plan.oomScoreAdj ?? 0
        config.uid = plan.uid
        config.gid = plan.gid
        config.n_groups = Int32(groups.count)
        config.cap_bounding = plan.capabilities.bounding
        config.cap_effective = plan.capabilities.effective
        config.cap_permitted = plan.capabilities.permitted
        config.cap_inheritable = plan.capabilities.inheritable
        config.cap_ambient = plan.capabilities.ambient
        config.last_cap = skiff_last_cap()
        config.no_new_privs = plan.noNewPrivileges ? 1 : 0
        config.selinux_exec_label = plan.selinuxExecLabel.map(strings.add)
        config.seccomp_len = seccomp.count
        config.seccomp_notify = plan.seccompOriginal != nil ? 1 : 0
        config.cwd = strings.add(plan.cwd)
        config.create_cwd = plan.createCwd ? 1 : 0
        config.start_fifo_fd = fifoFD
        #if DEBUG
        // Tests only (debug builds): hold the intermediate's pid report back, so that the forked
        // process would win the race the SKIFF_MSG_PID_RECORDED handshake rules out.
        if let text = getenv("SKIFF_DEBUG_PID_REPORT_DELAY_US"), let delay = UInt32(String(cString: text)) {
            config.pid_report_delay_us = delay
        }
        #endif
        config.terminal = plan.terminal ? 1 : 0
        if let size = plan.consoleSize {
            config.console_rows = size.rows
            config.console_columns = size.columns
        }
        if let stdio = plan.stdio {
            config.set_stdio = 1
            config.stdio_fds = stdio
        }
        // cgroup v2: the container's process is made in its cgroup (clone3, CLONE_INTO_CGROUP),
        // not moved there; the child falls back to asking for the move where clone3 refuses.
        var cgroupFD: Int32 = -1
        defer { if cgroupFD >= 0 { close(cgroupFD) } }
        if let cgroup = plan.cgroupV2, plan.cgroups == nil, let fd = cgroup.openForClone() {
            cgroupFD = fd
            config.into_cgroup = 1
            config.cgroup_fd = fd
            #if DEBUG
            // Tests only (debug builds): clone3 "fails" with this errno, as on a kernel before 5.7
            // or under a seccomp profile that refuses it, so that the fallback (the move) runs.
            if let text = getenv("SKIFF_DEBUG_CLONE3_ERRNO"), let value = Int32(String(cString: text)) {
                config.clone3_test_errno = value
            }
            #endif
        }
        if plan.cgroups != nil || plan.cgroupV2 != nil {
            config.join_cgroups = 1
            if plan.cloneFlags & Int32(SKIFF_CLONE_NEWCGROUP) != 0 {
                // Made after the move, so that the container's cgroups are the namespace's root.
                config.clone_flags &= ~Int32(SKIFF_CLONE_NEWCGROUP)
                config.unshare_cgroupns = 1
            }
        }

        if plan.sendsNamespaces { config.send_namespaces = 1 }
        let pid: pid_t = mounts.withUnsafeBufferPointer { mountsPointer in
            rlimits.withUnsafeBufferPointer { rlimitsPointer in
                masked.withUnsafeBufferPointer { maskedPointer in
                    readonly.withUnsafeBufferPointer { readonlyPointer in
                        sysctlKeys.withUnsafeBufferPointer { keysPointer in
                            sysctlValues.withUnsafeBufferPointer { valuesPointer in
                                argv.withUnsafeBufferPointer { argvPointer in
                                    envp.withUnsafeBufferPointer { envpPointer in
                                        groups.withUnsafeBufferPointer { groupsPointer in
                                            seccomp.withUnsafeBufferPointer { seccompPointer in
                                                config.mounts = mountsPointer.baseAddress
                                                config.rlimits = rlimitsPointer.baseAddress
                                                config.masked_paths = maskedPointer.baseAddress.map { UnsafePointer($0) }
                                                config.readonly_paths = readonlyPointer.baseAddress.map { UnsafePointer($0) }
                                                config.sysctl_keys = keysPointer.baseAddress.map { UnsafePointer($0) }
                                                config.sysctl_values = valuesPointer.baseAddress.map { UnsafePointer($0) }
                                                config.argv = argvPointer.baseAddress.map { UnsafePointer($0) }
                                                config.envp = envpPointer.baseAddress.map { UnsafePointer($0) }
                                                config.groups = groupsPointer.baseAddress
                                                config.seccomp_bpf = seccompPointer.count > 0 ? seccompPointer.baseAddress : nil
                                                return skiff_clone_child(&config)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        close(childEnd)
        withExtendedLifetime(strings) {}
        guard pid > 0 else {
            throw RuntimeError(.system, "\(id): clone: \(errnoText(-pid))", errno: -pid)
        }

        var child = LaunchedChild(pid: pid, consoleMaster: nil, sync: parentEnd)
        var containerPid = pid
        // With a fork into a pid namespace, the process cloned here is only the intermediate: the
        // container's process says nothing before we have its pid (SKIFF_MSG_PID_RECORDED), so
        // any of its messages before that is out of order.
        var pidKnown = !plan.forksIntoPidNamespace
        func outOfOrder(_ what: String) -> RuntimeError {
            RuntimeError(.system, "\(id): the container process \(what) before its pid was known")
        }
        func joinCgroups() throws {
            try plan.cgroups?.add(pid: containerPid, context: id)
            try plan.cgroupV2?.add(pid: containerPid, context: id)
            var reply = skiff_msg()
            reply.type = Int32(SKIFF_MSG_CGROUPS_JOINED.rawValue)
            _ = skiff_msg_send(parentEnd, &reply)
        }
        var listenerSeen = false
        var helped = false
        func help() {
            guard !helped else { return }
            helped = true
            whileChildSetsUp?()
        }
        do {
            while true {
                // A child that waits for its id maps gets them first.
                if !plan.newUserNamespace { help() }
                if let listener = child.seccompListener, let serveNotification {
                    var fds = [pollfd(fd: parentEnd, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                    _ = Syscall.retrying { poll(&fds, 2, -1) }
                    if fds[1].revents & Int16(POLLIN) != 0 { serveNotification(listener) }
                    if fds[0].revents == 0 { continue }
                }
                var message = skiff_msg()
                var passed: Int32 = -1
                let rc = skiff_msg_recv_fd(parentEnd, &message, &passed)
                if rc == -EPIPE {
                    throw RuntimeError(.system, "\(id): the container process exited during set-up")
                }
                guard rc == 0 else {
                    throw RuntimeError(.system, "\(id): sync: \(errnoText(-rc))", errno: -rc)
                }
                switch Int(message.type) {
                case Int(SKIFF_MSG_NEED_MAPPING.rawValue):
                    do {
                        try IDMapWriter.write(pid: containerPid, uid: plan.uidMappings, gid: plan.gidMappings, id: id)
                    } catch {
                        throw RuntimeError(error)
                    }
                    var reply = skiff_msg()
                    reply.type = Int32(SKIFF_MSG_MAPPED.rawValue)
                    _ = skiff_msg_send(parentEnd, &reply)
                    help()
                case Int(SKIFF_MSG_PID.rawValue):
                    // The intermediate process forked the real one into the pid namespace, and
                    // exits; the real one waits for our answer before it says anything.
                    guard !pidKnown, message.index > 0 else {
                        throw RuntimeError(.system, "\(id): unexpected pid message \(message.index) from the child")
                    }
                    var status: Int32 = 0
                    _ = Syscall.retrying { waitpid(pid, &status, 0) }
                    containerPid = message.index
                    child.pid = containerPid
                    pidKnown = true
                    var reply = skiff_msg()
                    reply.type = Int32(SKIFF_MSG_PID_RECORDED.rawValue)
                    let sent = skiff_msg_send(parentEnd, &reply)
                    guard sent == 0 else {
                        throw RuntimeError(.system, "\(id): sync: \(errnoText(-sent))", errno: -sent)
                    }
                case Int(SKIFF_MSG_JOIN_CGROUPS.rawValue):
                    guard pidKnown else { throw outOfOrder("asked to join its cgroups") }
                    try joinCgroups()
                case Int(SKIFF_MSG_CONSOLE.rawValue):
                    if passed >= 0 { child.consoleMaster = passed }
                    guard pidKnown else { throw outOfOrder("sent its terminal") }
                case Int(SKIFF_MSG_SECCOMP_LISTENER.rawValue):
                    guard passed >= 0, plan.seccompOriginal != nil, !listenerSeen else {
                        if passed >= 0 { close(passed) }
                        throw RuntimeError(.system, "\(id): unexpected seccomp listener from the child")
                    }
                    listenerSeen = true
                    child.seccompListener = passed
                    guard pidKnown else { throw outOfOrder("sent its seccomp listener") }
                    if let takeListener, takeListener(passed) { child.seccompListener = nil }
                case Int(SKIFF_MSG_NAMESPACE.rawValue):
                    guard passed >= 0 else { throw RuntimeError(.system, "\(id): a namespace message without a descriptor") }
                    if message.index == 0 { child.namespaces.network = passed } else { child.namespaces.user = passed }
                    guard pidKnown else { throw outOfOrder("sent its namespaces") }
                case Int(SKIFF_MSG_READY.rawValue):
                    guard pidKnown else { throw outOfOrder("reported ready") }
                    handedOver = true
                    return child
                case Int(SKIFF_MSG_ERROR.rawValue):
                    throw childError(message, id: id)
                default:
                    throw RuntimeError(.system, "\(id): unexpected message \(message.type) from the child")
                }
            }
        } catch {
            kill(containerPid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(containerPid, &status, 0)
            if let master = child.consoleMaster { close(master) }
            if let listener = child.seccompListener { close(listener) }
            for fd in [child.namespaces.network, child.namespaces.user] where fd >= 0 { close(fd) }
            throw error
        }
    }

    /// "create ID: mount /proc: Operation not permitted", with the errno kept.
    static func childError(_ message: skiff_msg, id: String) -> RuntimeError {
        let step = String(cString: skiff_step_name(message.step))
        let detail = String(fixedCString: message.detail)
        let code: RuntimeError.Code
        switch message.err {
        case ENOENT: code = .notFound
        case EPERM, EACCES: code = .permissionDenied
        case EINVAL: code = .invalidArgument
        default: code = .system
        }
        let object = detail.isEmpty ? "" : " \(detail)"
        if Int(message.step) == Int(SKIFF_STEP_MOUNT_IN_PROC.rawValue) {
            // runc's words (checkProcMount).
            var error = RuntimeError(.invalidArgument, "\(id): mount \(detail): \"\(detail)\" cannot be mounted because it is inside /proc",
                                     errno: message.err)
            error.childStep = message.step
            return error
        }
        var error = childErrorWithoutStep(message, id: id, step: step, code: code, object: object, detail: detail)
        error.childStep = message.step
        return error
    }

    private static func childErrorWithoutStep(_ message: skiff_msg, id: String, step: String, code: RuntimeError.Code,
                                              object: String, detail: String) -> RuntimeError {
        if Int(message.step) == Int(SKIFF_STEP_EXEC.rawValue) && message.err == ENOENT {
            // A path is looked at, not searched for (Go's exec.LookPath, as runc words it).
            if detail.contains("/") {
                return RuntimeError(.notFound, "\(id): exec: \"\(detail)\": stat \(detail): no such file or directory",
                                    errno: ENOENT)
            }
            return RuntimeError(.notFound, "\(id): exec: \"\(detail)\": executable file not found in $PATH",
                                errno: ENOENT)
        }
        if Int(message.step) == Int(SKIFF_STEP_EXEC.rawValue) && message.err == EACCES {
            return RuntimeError(.permissionDenied, "\(id): exec: \"\(detail)\": permission denied", errno: EACCES)
        }
        return RuntimeError(code, "\(id): \(step)\(object): \(errnoText(message.err))", errno: message.err)
    }
}

func errnoText(_ value: Int32) -> String {
    String(cString: strerror(value))
}

/// C strings that live as long as this object.
final class CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    func add(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        pointers.append(p)
        return UnsafePointer(p)
    }

    func array(_ strings: [String]) -> [UnsafePointer<CChar>?] {
        strings.map { add($0) }
    }

    deinit {
        for p in pointers { free(p) }
    }
}

extension String {
    /// `net.ipv4.ip_forward` -> `net/ipv4/ip_forward` (a /proc/sys path).
    func replacingDots() -> String {
        String(map { $0 == "." ? "/" : $0 })
    }
}

import CRuntime
import OCI
import Platform
import UserNamespace

#if canImport(Glibc)
import Glibc
#endif

extension LaunchPlan {
    /// Resolves an OCI spec into what the child does, checking what can be checked up front.
    /// `seccompCache`: a directory for compiled seccomp programs (`SeccompCache`), nil: none.
    init(spec: Spec, bundle: String, seccompCache: String? = nil, warn: (String) -> Void) throws {
        self.init()
        guard let process = spec.process, let args = process.args, !args.isEmpty else {
            throw RuntimeError(.invalidArgument, "config.json: process.args must name a program")
        }
        let isRoot = getuid() == 0

        // Namespaces: new ones become clone flags, ones with a path are joined (user first).
        var seen: Set<String> = []
        for namespace in spec.linux?.namespaces ?? [] {
            guard let flag = LaunchPlan.namespaceFlags[namespace.type] else {
                throw RuntimeError(.invalidArgument, "config.json: unknown namespace type \"\(namespace.type)\"")
            }
            guard seen.insert(namespace.type).inserted else {
                throw RuntimeError(.invalidArgument, "config.json: namespace \"\(namespace.type)\" listed twice")
            }
            if let path = namespace.path, !path.isEmpty {
                if flag == Int32(SKIFF_CLONE_NEWUSER) {
                    join.insert((path, flag), at: 0)
                } else {
                    join.append((path, flag))
                }
            } else {
                cloneFlags |= flag
            }
        }
        newUserNamespace = cloneFlags & Int32(SKIFF_CLONE_NEWUSER) != 0
        let inUserNamespace = newUserNamespace || join.contains { $0.type == Int32(SKIFF_CLONE_NEWUSER) }
        if !isRoot && !inUserNamespace {
            throw RuntimeError(.invalidArgument, "config.json: a rootless container needs a user namespace")
        }
        if newUserNamespace {
            let specUID = spec.linux?.uidMappings ?? []
            let specGID = spec.linux?.gidMappings ?? []
            if !specUID.isEmpty && !specGID.isEmpty {
                uidMappings = specUID
                gidMappings = specGID
            } else if isRoot {
                throw RuntimeError(.invalidArgument, "config.json: a user namespace needs linux.uidMappings and linux.gidMappings")
            } else {
                (uidMappings, gidMappings) = LaunchPlan.rootlessMappings(warn: warn)
                rootlessDefaultMappings = true
            }
        }

        // Root file system.
        if let root = spec.root {
            let path = root.path.hasPrefix("/") ? root.path : bundle + "/" + root.path
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw RuntimeError(.notFound, "config.json: root.path \(path) is not a directory")
            }
            rootfs = path
            rootfsReadonly = root.readonly ?? false
        }
        if cloneFlags & Int32(SKIFF_CLONE_NEWNS) == 0 && rootfs != nil && !join.contains(where: { $0.type == Int32(SKIFF_CLONE_NEWNS) }) {
            throw RuntimeError(.invalidArgument, "config.json: a root file system needs a mount namespace")
        }
        rootfsPropagation = try MountOptions.propagation(spec.linux?.rootfsPropagation)
        bindDevices = inUserNamespace
        // Docker makes a missing WORKDIR; an engine asks for that with this annotation (OCI's
        // own rule is that cwd exists).
        createCwd = spec.annotations?["run.skiff.create-cwd"] == "true"
        let chosen = try LaunchPlan.chosenLabel(spec)
        let mountLabel = SELinux.isEnabled
            ? (spec.linux?.mountLabel.flatMap { $0.isEmpty ? nil : $0 } ?? chosen?.mountLabel) : nil
        for (index, mount) in (spec.mounts ?? []).enumerated() {
            if mount.destination == "/" {
                try useOverlayRoot(mount, index: index)
                continue
            }
            let destination = LaunchPlan.cleanPath(mount.destination)
            if destination.hasPrefix("/proc/"), let refusal = ProcMountRule.refusal(destination: destination, type: mount.type) {
                throw RuntimeError(.invalidArgument, "config.json: mounts[\(index)]: \(refusal)")
            }
            var resolved = try LaunchPlan.resolve(mount, index: index, bundle: bundle)
            if let mountLabel, LaunchPlan.labelledFileSystems.contains(resolved.fstype) {
                // Files in the container's own tmpfs and friends get the container's file label.
                resolved.data += (resolved.data.isEmpty ? "" : ",") + "context=\"\(mountLabel)\""
            }
            mounts.append(resolved)
        }
        forceRootfsCopy = spec.annotations?["run.skiff.rootfs-copy"] == "true"
        maskedPaths = spec.linux?.maskedPaths ?? []
        readonlyPaths = spec.linux?.readonlyPaths ?? []
        for path in maskedPaths + readonlyPaths + mounts.map(\.destination) where !path.hasPrefix("/") {
            throw RuntimeError(.invalidArgument, "config.json: \"\(path)\" is not an absolute path")
        }

        if let hostname = spec.hostname, !hostname.isEmpty {
            guard cloneFlags & Int32(SKIFF_CLONE_NEWUTS) != 0 || join.contains(where: { $0.type == Int32(SKIFF_CLONE_NEWUTS) }) else {
                throw RuntimeError(.invalidArgument, "config.json: hostname needs a private uts namespace")
            }
            self.hostname = hostname
        }
        if let domainname = spec.domainname, !domainname.isEmpty { self.domainname = domainname }
        sysctls = (spec.linux?.sysctl ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }

        try applyProcess(process, spec: spec, seccompCache: seccompCache, warn: warn)
        if selinuxExecLabel == nil, SELinux.isEnabled, let label = chosen?.processLabel, !label.isEmpty {
            selinuxExecLabel = label
        }
    }

    /// The process part of the plan (also what `exec` runs in an existing container).
    mutating func applyProcess(_ process: Spec.Process, spec: Spec, seccompCache: String? = nil,
                               warn: (String) -> Void) throws {
        guard let args = process.args, !args.isEmpty else {
            throw RuntimeError(.invalidArgument, "process.args must name a program")
        }
        for limit in process.rlimits ?? [] {
            guard let resource = LaunchPlan.rlimitResources[limit.type] else {
                throw RuntimeError(.invalidArgument, "config.json: unknown rlimit \"\(limit.type)\"")
            }
            guard limit.soft <= limit.hard else {
                throw RuntimeError(.invalidArgument, "config.json: rlimit \(limit.type): soft limit above hard limit")
            }
            rlimits.append((resource, limit.soft, limit.hard))
        }
        oomScoreAdj = process.oomScoreAdj.map(Int32.init)
        try LaunchPlan.checkIDs(process.user)
        uid = process.user.uid
        gid = process.user.gid
        groups = process.user.additionalGids ?? []

        let caps = process.capabilities
        capabilities = (
            bounding: try CapabilityMask(names: caps?.bounding ?? []).rawValue,
            effective: try CapabilityMask(names: caps?.effective ?? []).rawValue,
            permitted: try CapabilityMask(names: caps?.permitted ?? []).rawValue,
            inheritable: try CapabilityMask(names: caps?.inheritable ?? []).rawValue,
            ambient: try CapabilityMask(names: caps?.ambient ?? []).rawValue)
        // An ambient capability must be permitted and inheritable too, or raising it fails
        // (EPERM). runc goes on without it (with a warning since 1.2): `runc spec` lists three
        // ambient capabilities and no inheritable ones.
        let raisable = capabilities.ambient & capabilities.permitted & capabilities.inheritable
        if raisable != capabilities.ambient {
            let left = CapabilityMask(rawValue: capabilities.ambient & ~raisable).names.joined(separator: ", ")
            warn("process.capabilities.ambient: \(left) not raised: an ambient capability must also be permitted and inheritable")
            capabilities.ambient = raisable
        }
        noNewPrivileges = process.noNewPrivileges ?? false
        if let label = process.selinuxLabel, !label.isEmpty, SELinux.isEnabled {
            selinuxExecLabel = label
        }
        if let seccomp = spec.linux?.seccomp {
            // The rules the engine chose for this container. A syscall libseccomp does not know
            // fails the create, naming it (crun and runc skip such names silently; a filter that
            // is not what the profile says is worse than a clear error).
            let effective = capabilities.effective
            let program = try SeccompCache.program(profileJSON: seccomp.json.bytes, capabilities: effective,
                                                   directory: seccompCache) {
                try Seccomp.compile(seccomp, source: "config.json linux.seccomp",
                                    options: Seccomp.Options(failOnUnknownSyscall: true))
            }
            self.seccomp = program.bytes
        }
        cwd = process.cwd
        self.args = args
        env = process.env ?? []
        terminal = process.terminal ?? false
    }

    /// The largest id a process may take (runc's and Podman's limit): setresuid(2) and
    /// setresgid(2) read 4294967295 as -1, "leave unchanged", so a bundle asking for it would
    /// keep the process root.
    static let maximumID: UInt32 = 2_147_483_647

    static func checkIDs(_ user: Spec.User) throws {
        let named = [("uid", user.uid), ("gid", user.gid)]
            + (user.additionalGids ?? []).enumerated().map { ("additionalGids[\($0.offset)]", $0.element) }
        for (field, id) in named where id > maximumID {
            throw RuntimeError(.invalidArgument,
                               "config.json: process.user.\(field) \(id): uids and gids must be in range 0-\(maximumID)")
        }
    }

    /// The annotation an engine writes when the runtime is to choose the container's SELinux
    /// labels (Skiff's service does: it has no libselinux): a JSON array of `label=` options.
    static let selinuxOptionsAnnotation = "run.skiff.selinux-label-options"

    /// The labels chosen for the annotation's options (checked even with SELinux off, so a bad
    /// option fails the same way on every host); nil without the annotation.
    static func chosenLabel(_ spec: Spec) throws -> SELinuxLabel? {
        guard let text = spec.annotations?[selinuxOptionsAnnotation] else { return nil }
        guard case .array(let items)? = try? JSONParser.parse(text) else {
            throw RuntimeError(.invalidArgument, "config.json: annotation \(selinuxOptionsAnnotation) is not a JSON array")
        }
        let options = items.compactMap { item -> String? in
            if case .string(let s) = item { return s }
            return nil
        }
        return try SELinuxLabel.forContainer(options: options, inUse: [])
    }

    /// A mount on "/" of type overlay is the root file system itself: mounted on `root.path`
    /// inside the container's user and mount namespaces, before anything else.
    mutating func useOverlayRoot(_ mount: Spec.Mount, index: Int) throws {
        guard mount.type == "overlay", rootfs != nil else {
            throw RuntimeError(.invalidArgument,
                "config.json: mounts[\(index)]: only an overlay (with root.path as its mount point) may go on /")
        }
        let options = try MountOptions(mount.options ?? [])
        var lower: [String] = [], upper: String?, work: String?
        for option in options.data {
            if option.hasPrefix("lowerdir=") { lower = option.dropFirst(9).split(separator: ":").map(String.init) }
            if option.hasPrefix("upperdir=") { upper = String(option.dropFirst(9)) }
            if option.hasPrefix("workdir=") { work = String(option.dropFirst(8)) }
        }
        guard !lower.isEmpty else {
            throw RuntimeError(.invalidArgument, "config.json: mounts[\(index)]: an overlay root needs lowerdir=")
        }
        guard (upper == nil) == (work == nil) else {
            throw RuntimeError(.invalidArgument, "config.json: mounts[\(index)]: upperdir= and workdir= go together")
        }
        for dir in lower + [upper, work].compactMap({ $0 }) where !dir.hasPrefix("/") {
            throw RuntimeError(.invalidArgument, "config.json: mounts[\(index)]: \(dir) is not an absolute path")
        }
        rootfsFSType = "overlay"
        var data = options.data
        // Rootless, the overlay is mounted inside the container's user namespace, where the
        // trusted.overlay.* xattrs cannot be read or written: overlayfs must use user.overlay.*
        // (the rootless image store marks opaque directories there), or an opaque directory of
        // an upper layer shows what the layers below put in it.
        if geteuid() != 0 && !data.contains("userxattr") { data.append("userxattr") }
        rootfsData = data.joined(separator: ",")
        overlayLowerDirs = lower
        overlayUpperDir = upper
    }

    /// The rootless map: the user's own ids as 0, then the /etc/subuid and /etc/subgid ranges.
    static func rootlessMappings(warn: (String) -> Void) -> ([IDMapping], [IDMapping]) {
        let uid = getuid(), gid = getgid()
        var name = ""
        if let pw = getpwuid(uid) { name = String(cString: pw.pointee.pw_name) }
        var groupName = ""
        if let gr = getgrgid(gid) { groupName = String(cString: gr.pointee.gr_name) }
        let subuid = String(decoding: FileIO.read("/etc/subuid") ?? [], as: UTF8.self)
        let subgid = String(decoding: FileIO.read("/etc/subgid") ?? [], as: UTF8.self)
        let uids = SubordinateIDs.parse(subuid, user: name, id: uid)
        var gids = SubordinateIDs.parse(subgid, user: groupName, id: gid)
        if gids.ranges.isEmpty { gids = SubordinateIDs.parse(subgid, user: name, id: uid) }
        if uids.ranges.isEmpty || gids.ranges.isEmpty {
            warn("no subordinate ids for \(name.isEmpty ? String(uid) : name) in /etc/subuid or /etc/subgid: "
                 + "the container gets a single uid and gid (its root); files owned by other ids will not work")
            return ([IDMapping(containerID: 0, hostID: uid, size: 1)], [IDMapping(containerID: 0, hostID: gid, size: 1)])
        }
        return (uids.mappings(hostID: uid), gids.mappings(hostID: gid))
    }

    static func resolve(_ mount: Spec.Mount, index: Int, bundle: String) throws -> BindOrMount {
        let options = try MountOptions(mount.options ?? [])
        let type = mount.type ?? ""
        let isBind = options.isBind || type == "bind"
        if isBind {
            guard var source = mount.source, !source.isEmpty else {
                throw RuntimeError(.invalidArgument, "config.json: mounts[\(index)]: a bind mount needs a source")
            }
            if !source.hasPrefix("/") { source = bundle + "/" + source }
            var info = stat()
            guard stat(source, &info) == 0 else {
                throw RuntimeError(.notFound, "config.json: mounts[\(index)]: source \(source) does not exist")
            }
            return BindOrMount(kind: Int32(SKIFF_MOUNT_BIND.rawValue), source: source, destination: mount.destination,
                               fstype: "", flags: options.flags, propagation: options.propagation, data: "",
                               recursive: options.isRecursive, sourceIsDirectory: info.st_mode & S_IFMT == S_IFDIR)
        }
        guard !type.isEmpty else {
            throw RuntimeError(.invalidArgument, "config.json: mounts[\(index)] (\(mount.destination)): no type")
        }
        return BindOrMount(kind: Int32(SKIFF_MOUNT_FS.rawValue), source: mount.source ?? type,
                           destination: mount.destination, fstype: type, flags: options.flags,
                           propagation: options.propagation, data: options.data.joined(separator: ","),
                           recursive: false, sourceIsDirectory: true)
    }

    /// `/a/./b//c/../d` -> `/a/b/d`, lexically (a path in the container, taken from /: `..`
    /// stops there).
    static func cleanPath(_ path: String) -> String { FileSystem.cleanPath("/" + path) }

    /// File systems a mount label applies to (as runc and crun label them).
    static let labelledFileSystems: Set<String> = ["tmpfs", "devpts", "mqueue", "shm"]

    static let namespaceFlags: [String: Int32] = [
        "pid": Int32(SKIFF_CLONE_NEWPID), "network": Int32(SKIFF_CLONE_NEWNET), "mount": Int32(SKIFF_CLONE_NEWNS), "ipc": Int32(SKIFF_CLONE_NEWIPC),
        "uts": Int32(SKIFF_CLONE_NEWUTS), "user": Int32(SKIFF_CLONE_NEWUSER), "cgroup": Int32(SKIFF_CLONE_NEWCGROUP),
    ]

    static let rlimitResources: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
        "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
        "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
        "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]
}

extension LaunchPlan {
    /// Joins the user namespace `fd` names (`SharedUserNamespace`) instead of making one: the
    /// other namespaces are made inside it after the join.
    mutating func joinUserNamespace(fd: Int32) {
        cloneFlags &= ~Int32(SKIFF_CLONE_NEWUSER)
        newUserNamespace = false
        join.insert(("/proc/self/fd/\(fd)", Int32(SKIFF_CLONE_NEWUSER)), at: 0)
    }
}

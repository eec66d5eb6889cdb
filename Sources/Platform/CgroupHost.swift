#if canImport(Glibc)
import Glibc
#endif

/// The host's cgroup layout and where a cgroup v2 manager may make containers' cgroups, found
/// once per process from /proc/self/mountinfo and /proc/self/cgroup (both injectable: tests
/// give text and a directory tree of their own). The service (for `docker info`, the create
/// checks, pause) and the runtime (which makes the cgroups) decide from the same code, and a
/// monitor inherits the service's cgroup, so both see the same delegation.
///
/// - `.v1`: only cgroup v1 hierarchies (one per controller) under /sys/fs/cgroup.
/// - `.hybrid`: v1 hierarchies plus a cgroup2 mount (`/sys/fs/cgroup/unified`), which holds the
///   core files (cgroup.procs, cgroup.freeze, cgroup.kill, cgroup.events) but, while v1 holds
///   them, none of the controllers.
/// - `.unified`: cgroup v2 alone, mounted on /sys/fs/cgroup (Debian 12, Ubuntu 22.04+, Fedora).
public struct CgroupHost: Sendable, Equatable {
    public enum Layout: String, Sendable {
        case none, v1, hybrid, unified
    }

    public var layout: Layout
    /// Where the cgroup2 file system is mounted (nil on `.v1`/`.none`).
    public var unifiedMount: String?
    /// This process's cgroup in the unified hierarchy (the `0::` line), relative to its root.
    public var ownPath: String?

    public init(layout: Layout, unifiedMount: String?, ownPath: String?) {
        self.layout = layout
        self.unifiedMount = unifiedMount
        self.ownPath = ownPath
    }

    /// The environment variable naming a cgroup2 directory to make containers' cgroups under
    /// (a configured parent: the directory a delegation gave, as a host path).
    public static let parentVariable = "SKIFF_CGROUP_PARENT"

    /// This process's host, read once.
    public static let current: CgroupHost = detect(
        mountinfo: String(decoding: (try? FileSystem.readFile("/proc/self/mountinfo", limit: 1 << 22)) ?? [], as: UTF8.self),
        selfCgroup: String(decoding: (try? FileSystem.readFile("/proc/self/cgroup", limit: 1 << 16)) ?? [], as: UTF8.self))

    /// The layout from mountinfo text (field 5 the mount point, the file system type after `-`)
    /// and the unified path from /proc/self/cgroup text.
    public static func detect(mountinfo: String, selfCgroup: String, cgroupRoot: String = "/sys/fs/cgroup") -> CgroupHost {
        var unified: String?
        var legacy = false
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 7, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountpoint = String(fields[4])
            guard mountpoint == cgroupRoot || mountpoint.hasPrefix(cgroupRoot + "/") else { continue }
            switch fields[dash + 1] {
            case "cgroup2": if unified == nil || mountpoint == cgroupRoot { unified = mountpoint }
            case "cgroup": legacy = true
            default: break
            }
        }
        var own: String?
        for line in selfCgroup.split(separator: "\n") where line.hasPrefix("0::") {
            own = String(line.dropFirst(3))
        }
        let layout: Layout
        switch (legacy, unified) {
        case (false, nil): layout = .none
        case (true, nil): layout = .v1
        case (true, _): layout = .hybrid
        case (false, _): layout = .unified
        }
        return CgroupHost(layout: layout, unifiedMount: unified, ownPath: own)
    }

    /// The directory under which a cgroup v2 manager makes containers' cgroups (the container's
    /// is `<base>/<cgroupsPath or skiff/ID>`), or nil when there is none it may write:
    /// - a configured parent (`SKIFF_CGROUP_PARENT`), which must be a directory of the cgroup2
    ///   mount;
    /// - as root on `.unified`: the mount itself;
    /// - rootless on `.unified` or `.hybrid`: the delegated subtree, the highest ancestor of this
    ///   process's own cgroup (itself included) whose directory and cgroup.procs it may write (on
    ///   a systemd host `user@UID.service`; its parent is root's). Moving a process between two
    ///   cgroups needs write access to the cgroup.procs of their common ancestor, which is then
    ///   inside the delegation.
    /// As root on `.hybrid` the cgroup v1 manager keeps the containers (nil here).
    public func v2Base(isRoot: Bool, configured: String?, canWrite: (String) -> Bool = CgroupHost.canWrite) -> String? {
        guard let mount = unifiedMount else { return nil }
        if let configured, !configured.isEmpty {
            let clean = FileSystem.cleanPath(configured)
            guard clean == mount || clean.hasPrefix(mount + "/") else { return nil }
            return canWrite(clean) ? clean : nil
        }
        if isRoot { return layout == .unified ? mount : nil }
        guard let own = ownPath, own.hasPrefix("/") else { return nil }
        var directory = own == "/" ? mount : mount + own
        guard canWrite(directory) else { return nil }
        while directory != mount {
            let parent = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            guard parent.count >= mount.count, canWrite(parent) else { break }
            directory = parent
        }
        return directory
    }

    /// The directory and its cgroup.procs may be written by this process (a delegation chowns
    /// both, with cgroup.subtree_control and cgroup.threads).
    public static func canWrite(_ directory: String) -> Bool {
        access(directory, W_OK) == 0 && access(directory + "/cgroup.procs", W_OK) == 0
    }

    /// `cgroup.controllers` of a cgroup2 directory: the controllers its parent enabled for it.
    public static func controllers(of directory: String) -> [String] {
        guard let bytes = try? FileSystem.readFile(directory + "/cgroup.controllers", limit: 1 << 12) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }
}

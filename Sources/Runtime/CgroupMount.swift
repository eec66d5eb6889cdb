import CRuntime

/// A bundle's `cgroup` mount (`runc spec` writes one on /sys/fs/cgroup), turned into the mounts
/// the child makes, as runc does (its mountCgroupV1 and mountCgroupV2):
///
/// - cgroup v2 (cgroup2 on the cgroup root): a cgroup2 file system; where it may not be mounted
///   (a user namespace without a cgroup namespace: EPERM) the host's cgroup root is bound instead.
/// - cgroup v1 and hybrid: a tmpfs, then one directory per hierarchy: the process's own cgroup
///   in it, bound (or, in a cgroup namespace, the hierarchy mounted, the bind as fallback); a
///   symlink per controller of a merged hierarchy (`cpu` -> `cpu,cpuacct`); then the tmpfs
///   made read-only if the mount is. A hybrid host is a v1 one here, as for runc.
///
/// Pure: the host's layout comes from /proc/self/mountinfo and /proc/self/cgroup text.
struct CgroupMount {
    /// One cgroup hierarchy mounted on the host.
    struct Hierarchy: Equatable {
        var mountpoint: String
        /// The mount's root inside the hierarchy (mountinfo's fourth field).
        var root: String
        /// `cgroup` or `cgroup2`.
        var fstype: String
        /// The mount's super options (`rw,cpu,cpuacct`, `rw,name=systemd`).
        var options: [String]
    }

    /// How the host's cgroups are mounted under `cgroupRoot`.
    enum Layout: Equatable {
        /// cgroup2 on the root itself.
        case unified(Hierarchy)
        /// v1 hierarchies below the root (`cpu`, `memory`, ...), and a hybrid host's cgroup2 one.
        case legacy([Hierarchy], unified: Hierarchy?)
        /// No cgroup file system.
        case none
    }

    static let cgroupRoot = "/sys/fs/cgroup"

    /// The layout from /proc/self/mountinfo; the last mount on a path wins (it hides the rest).
    static func layout(mountinfo: String, cgroupRoot: String = cgroupRoot) -> Layout {
        var byMountpoint: [String: Hierarchy] = [:]
        var order: [String] = []
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4 else { continue }
            let mountpoint = unescape(fields[4])
            guard mountpoint == cgroupRoot || mountpoint.hasPrefix(cgroupRoot + "/") else { continue }
            let fstype = fields[dash + 1]
            if !byMountpoint.keys.contains(mountpoint) { order.append(mountpoint) }
            byMountpoint[mountpoint] = Hierarchy(mountpoint: mountpoint, root: unescape(fields[3]), fstype: fstype,
                                                 options: fields[dash + 3].split(separator: ",").map(String.init))
        }
        if let top = byMountpoint[cgroupRoot], top.fstype == "cgroup2" { return .unified(top) }
        // Hierarchies directly below the root; with the root itself not a cgroup file system.
        let below = order.compactMap { byMountpoint[$0] }.filter {
            let rest = $0.mountpoint.dropFirst(cgroupRoot.count + 1)
            return !rest.isEmpty && !rest.contains("/")
        }
        let legacy = below.filter { $0.fstype == "cgroup" }
        guard !legacy.isEmpty else { return .none }
        return .legacy(legacy, unified: below.first { $0.fstype == "cgroup2" })
    }

    /// /proc/self/cgroup: controllers (`cpu,cpuacct`, `name=systemd`, "" for cgroup2) -> path.
    static func ownCgroups(_ text: String) -> [(controllers: [String], path: String)] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return (parts[1].split(separator: ",").map(String.init), String(parts[2]))
        }
    }

    /// The mounts that stand for `mount`. `own`: /proc/self/cgroup's entries (the process's
    /// cgroups, which the container's process keeps unless the runtime made it cgroups of its
    /// own: `containerDirectories`, controller -> host directory). `cgroupNamespace`: the
    /// container gets a cgroup namespace of its own.
    static func expand(_ mount: LaunchPlan.BindOrMount, layout: Layout,
                       own: [(controllers: [String], path: String)],
                       containerDirectories: [String: String] = [:],
                       cgroupNamespace: Bool) -> [LaunchPlan.BindOrMount] {
        let destination = LaunchPlan.cleanPath(mount.destination)
        let readOnly = mount.flags & MountOptions.rdonly != 0
        let hardening = MountOptions.nosuid | MountOptions.nodev | MountOptions.noexec
        func fileSystem(_ source: String, _ fstype: String, at path: String, flags: UInt, data: String,
                        fallback: String?) -> LaunchPlan.BindOrMount {
            LaunchPlan.BindOrMount(kind: Int32(SKIFF_MOUNT_FS.rawValue), source: source, destination: path, fstype: fstype,
                                   flags: flags, propagation: mount.propagation, data: data, recursive: false,
                                   sourceIsDirectory: true, fallbackSource: fallback)
        }
        func bind(_ source: String, at path: String) -> LaunchPlan.BindOrMount {
            LaunchPlan.BindOrMount(kind: Int32(SKIFF_MOUNT_BIND.rawValue), source: source, destination: path, fstype: "",
                                   flags: mount.flags, propagation: mount.propagation, data: "", recursive: true,
                                   sourceIsDirectory: true)
        }
        /// The directory of `hierarchy` the process sits in, as a host path.
        func ownDirectory(_ hierarchy: Hierarchy) -> String? {
            let controllers = hierarchy.fstype == "cgroup2" ? [] : hierarchy.options.filter { option in
                own.contains { $0.controllers.contains(option) }
            }
            if let made = controllers.lazy.compactMap({ containerDirectories[$0] }).first { return made }
            guard let entry = own.first(where: { entry in
                hierarchy.fstype == "cgroup2" ? entry.controllers.isEmpty
                    : !entry.controllers.isEmpty && entry.controllers.allSatisfy(controllers.contains)
            }) else { return nil }
            // The path is relative to the hierarchy's root; the mount shows `root` and below.
            let root = hierarchy.root == "/" ? "" : hierarchy.root
            guard entry.path == root || entry.path.hasPrefix(root + "/") || root.isEmpty else { return nil }
            let relative = String(entry.path.dropFirst(root.count))
            return relative == "/" || relative.isEmpty ? hierarchy.mountpoint : hierarchy.mountpoint + relative
        }

        switch layout {
        case .none:
            return [mount]
        case .unified(let hierarchy):
            // runc: bind the whole cgroup root, or with a cgroup namespace the process's own cgroup.
            let fallback = cgroupNamespace ? (ownDirectory(hierarchy) ?? hierarchy.mountpoint) : hierarchy.mountpoint
            return [fileSystem("cgroup", "cgroup2", at: destination, flags: mount.flags, data: "", fallback: fallback)]
        case .legacy(let hierarchies, _):
            var result = [fileSystem("tmpfs", "tmpfs", at: destination, flags: hardening, data: "mode=755", fallback: nil)]
            var links: [LaunchPlan.BindOrMount] = []
            // As runc's: the v1 hierarchies only. A hybrid host's cgroup2 one (`unified`) is not
            // shown: runc's GetCgroupMounts lists `cgroup` file systems alone.
            for hierarchy in hierarchies {
                guard let source = ownDirectory(hierarchy) else { continue }
                let name = String(hierarchy.mountpoint.split(separator: "/").last ?? "")
                let path = destination + "/" + name
                if cgroupNamespace {
                    let controllers = hierarchy.options.filter { $0 != "rw" && $0 != "ro" && !$0.hasPrefix("release_agent=") }
                    let named = controllers.first { $0.hasPrefix("name=") }
                    result.append(fileSystem(named.map { String($0.dropFirst(5)) } ?? "cgroup", "cgroup", at: path,
                                             flags: hardening | (readOnly ? MountOptions.rdonly : 0),
                                             data: controllers.joined(separator: ","), fallback: source))
                } else {
                    result.append(bind(source, at: path))
                }
                if name.contains(",") {
                    for part in name.split(separator: ",") where String(part) != name {
                        links.append(LaunchPlan.BindOrMount(kind: Int32(SKIFF_MOUNT_SYMLINK.rawValue), source: name,
                                                            destination: destination + "/" + part, fstype: "", flags: 0,
                                                            propagation: 0, data: "", recursive: false, sourceIsDirectory: false))
                    }
                }
            }
            result += links
            if readOnly {
                result.append(LaunchPlan.BindOrMount(kind: Int32(SKIFF_MOUNT_REMOUNT.rawValue), source: "", destination: destination,
                                                     fstype: "", flags: MountOptions.rdonly | hardening, propagation: 0, data: "",
                                                     recursive: false, sourceIsDirectory: true))
            }
            return result
        }
    }

    /// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
               let value = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension LaunchPlan {
    /// Replaces each `cgroup` mount with what stands for it on this host (`CgroupMount`).
    /// `containerCgroups`: the cgroups made for the container (root), whose directories it sees.
    mutating func expandCgroupMounts(containerCgroups: CgroupV1?,
                                     mountinfo: String? = nil, selfCgroup: String? = nil) {
        guard mounts.contains(where: { $0.kind == Int32(SKIFF_MOUNT_FS.rawValue) && $0.fstype == "cgroup" }) else { return }
        let layout = CgroupMount.layout(mountinfo: mountinfo
            ?? String(decoding: FileIO.read("/proc/self/mountinfo") ?? [], as: UTF8.self))
        let own = CgroupMount.ownCgroups(selfCgroup ?? String(decoding: FileIO.read("/proc/self/cgroup") ?? [], as: UTF8.self))
        var directories: [String: String] = [:]
        for directory in containerCgroups?.directories ?? [] where containerCgroups?.emulated != true {
            directories[directory.controller] = directory.path
        }
        let namespace = cloneFlags & Int32(SKIFF_CLONE_NEWCGROUP) != 0
        mounts = mounts.flatMap { mount -> [BindOrMount] in
            guard mount.kind == Int32(SKIFF_MOUNT_FS.rawValue), mount.fstype == "cgroup" else { return [mount] }
            return CgroupMount.expand(mount, layout: layout, own: own, containerDirectories: directories,
                                      cgroupNamespace: namespace)
        }
    }
}

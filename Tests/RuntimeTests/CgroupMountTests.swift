import CRuntime
import OCI
import Testing
@testable import Runtime

/// A bundle's `cgroup` mount on v1, hybrid and v2 hosts, as runc makes it (mountCgroupV1 and
/// mountCgroupV2), from mountinfo and /proc/self/cgroup text.
struct CgroupMountTests {
    static let hybridMountinfo = """
        23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    static let hybridSelf = """
        9:name=systemd:/user.slice/u.scope
        8:pids:/user.slice
        4:memory:/process_api/254a
        2:cpu,cpuacct:/
        0::/user.slice/u.scope
        """
    static let v2Mountinfo = """
        23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
        """

    /// What `runc spec` writes.
    static let specMount = LaunchPlan.BindOrMount(
        kind: Int32(SKIFF_MOUNT_FS.rawValue), source: "cgroup", destination: "/sys/fs/cgroup", fstype: "cgroup",
        flags: MountOptions.rdonly | MountOptions.nosuid | MountOptions.nodev | MountOptions.noexec | MountOptions.relatime,
        propagation: 0, data: "", recursive: false, sourceIsDirectory: true)

    static func describe(_ mounts: [LaunchPlan.BindOrMount]) -> [String] {
        mounts.map { m in
            switch m.kind {
            case Int32(SKIFF_MOUNT_BIND.rawValue): "bind \(m.source) \(m.destination)"
            case Int32(SKIFF_MOUNT_SYMLINK.rawValue): "symlink \(m.destination) -> \(m.source)"
            case Int32(SKIFF_MOUNT_REMOUNT.rawValue): "remount \(m.destination) ro=\(m.flags & MountOptions.rdonly != 0)"
            default: "\(m.fstype) \(m.destination) data=\(m.data) fallback=\(m.fallbackSource ?? "-")"
            }
        }
    }

    @Test func hybridLayoutIsReadFromMountinfo() {
        guard case .legacy(let hierarchies, let unified) = CgroupMount.layout(mountinfo: Self.hybridMountinfo) else {
            Issue.record("not legacy"); return
        }
        #expect(hierarchies.map(\.mountpoint) == ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory",
                                                 "/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd"])
        #expect(unified?.mountpoint == "/sys/fs/cgroup/unified")
        #expect(CgroupMount.layout(mountinfo: "23 1 0:21 / /sys rw - sysfs sysfs rw\n") == .none)
    }

    @Test func v1WithoutACgroupNamespaceBindsTheProcesssOwnCgroups() {
        let mounts = CgroupMount.expand(Self.specMount, layout: CgroupMount.layout(mountinfo: Self.hybridMountinfo),
                                        own: CgroupMount.ownCgroups(Self.hybridSelf), cgroupNamespace: false)
        #expect(Self.describe(mounts) == [
            "tmpfs /sys/fs/cgroup data=mode=755 fallback=-",
            "bind /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpu,cpuacct",
            "bind /sys/fs/cgroup/memory/process_api/254a /sys/fs/cgroup/memory",
            "bind /sys/fs/cgroup/pids/user.slice /sys/fs/cgroup/pids",
            "bind /sys/fs/cgroup/systemd/user.slice/u.scope /sys/fs/cgroup/systemd",
            "symlink /sys/fs/cgroup/cpu -> cpu,cpuacct",
            "symlink /sys/fs/cgroup/cpuacct -> cpu,cpuacct",
            "remount /sys/fs/cgroup ro=true",
        ])
        // The binds keep the mount's flags (read-only, nosuid, ...).
        #expect(mounts[1].flags == Self.specMount.flags && mounts[1].recursive)
    }

    @Test func v1InACgroupNamespaceMountsEachHierarchyWithTheBindAsFallback() {
        let mounts = CgroupMount.expand(Self.specMount, layout: CgroupMount.layout(mountinfo: Self.hybridMountinfo),
                                        own: CgroupMount.ownCgroups(Self.hybridSelf),
                                        containerDirectories: ["pids": "/sys/fs/cgroup/pids/skiff/c1",
                                                               "memory": "/sys/fs/cgroup/memory/skiff/c1"],
                                        cgroupNamespace: true)
        #expect(Self.describe(mounts) == [
            "tmpfs /sys/fs/cgroup data=mode=755 fallback=-",
            "cgroup /sys/fs/cgroup/cpu,cpuacct data=cpu,cpuacct fallback=/sys/fs/cgroup/cpu,cpuacct",
            "cgroup /sys/fs/cgroup/memory data=memory fallback=/sys/fs/cgroup/memory/skiff/c1",
            "cgroup /sys/fs/cgroup/pids data=pids fallback=/sys/fs/cgroup/pids/skiff/c1",
            "cgroup /sys/fs/cgroup/systemd data=xattr,name=systemd fallback=/sys/fs/cgroup/systemd/user.slice/u.scope",
            "symlink /sys/fs/cgroup/cpu -> cpu,cpuacct",
            "symlink /sys/fs/cgroup/cpuacct -> cpu,cpuacct",
            "remount /sys/fs/cgroup ro=true",
        ])
        #expect(mounts[4].source == "systemd")
    }

    @Test func v2MountsCgroup2AndFallsBackToTheHostsCgroupRoot() {
        let layout = CgroupMount.layout(mountinfo: Self.v2Mountinfo)
        let own = CgroupMount.ownCgroups("0::/user.slice/u.scope\n")
        #expect(Self.describe(CgroupMount.expand(Self.specMount, layout: layout, own: own, cgroupNamespace: false))
                == ["cgroup2 /sys/fs/cgroup data= fallback=/sys/fs/cgroup"])
        #expect(Self.describe(CgroupMount.expand(Self.specMount, layout: layout, own: own, cgroupNamespace: true))
                == ["cgroup2 /sys/fs/cgroup data= fallback=/sys/fs/cgroup/user.slice/u.scope"])
    }

    @Test func aReadWriteMountLeavesTheTmpfsWritable() {
        var mount = Self.specMount
        mount.flags &= ~MountOptions.rdonly
        let mounts = CgroupMount.expand(mount, layout: CgroupMount.layout(mountinfo: Self.hybridMountinfo),
                                        own: CgroupMount.ownCgroups(Self.hybridSelf), cgroupNamespace: false)
        #expect(!Self.describe(mounts).contains { $0.hasPrefix("remount") })
    }

    @Test func mountinfoEscapesAreRead() {
        #expect(CgroupMount.unescape(#"/a\040b"#) == "/a b")
        #expect(CgroupMount.unescape("/plain") == "/plain")
    }
}

/// Ids a process may not take, and mounts runc refuses, checked when the bundle is read.
struct LaunchPlanChecksTests {
    @Test(arguments: [
        (Spec.User(uid: 4_294_967_295, gid: 0), "config.json: process.user.uid 4294967295: uids and gids must be in range 0-2147483647"),
        (Spec.User(uid: 0, gid: 2_147_483_648), "config.json: process.user.gid 2147483648: uids and gids must be in range 0-2147483647"),
        (Spec.User(uid: 0, gid: 0, additionalGids: [10, 4_294_967_295]),
         "config.json: process.user.additionalGids[1] 4294967295: uids and gids must be in range 0-2147483647"),
    ])
    func idsPastTheLimitAreRefused(user: Spec.User, message: String) {
        do {
            try LaunchPlan.checkIDs(user)
            Issue.record("accepted \(user)")
        } catch let error as RuntimeError {
            #expect(error.message == message)
        } catch {
            Issue.record("\(error)")
        }
        #expect(throws: Never.self) { try LaunchPlan.checkIDs(Spec.User(uid: 2_147_483_647, gid: 2_147_483_647)) }
    }

    @Test(arguments: [("/proc/./sys/../sys/kernel/", "/proc/sys/kernel"), ("//a//b/", "/a/b"), ("/../x", "/x")])
    func pathsAreCleaned(path: String, clean: String) {
        #expect(LaunchPlan.cleanPath(path) == clean)
    }
}

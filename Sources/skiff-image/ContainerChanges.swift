import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `docker diff` (`skiff-image [--userns] changes --root DIR --container ID`): what the
/// container changed, read from its overlay upper directory against the image's layers (the
/// lower directories its config.json names), as moby's overlay `Changes` reads it: a whiteout
/// is Kind 2 (deleted); a name the layers have is Kind 0 (modified), unless it is a directory
/// whose size, mode and mtime are unchanged; any other name is Kind 1 (added); the
/// directory holding an added or deleted name is modified. Standard output is the JSON array
/// `[{"Path","Kind"}]`, sorted by path.
///
/// Everything is opened through descriptors with `O_NOFOLLOW` (the upper directory holds what
/// the container wrote, symlinks included); nothing is followed.
enum ContainerChanges {
    /// Mount points the runtime creates in the upper directory when the image lacks them
    /// (moby keeps these in the container's init layer, so they never show in a diff or a commit).
    static let mountPoints: Set<String> = ["proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue", "dev/console",
                                           "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", ".dockerenv"]

    /// The directories holding those mount points.
    static let mountPointParents: Set<String> = ["etc", "dev"]

    struct Change: Comparable {
        var path: String
        var kind: Int
        static func < (a: Change, b: Change) -> Bool { a.path < b.path }
    }

    static func run(_ options: Options) throws {
        let (upper, lowers) = try layers(options)
        let changes = try compute(upper: upper, lowers: lowers)
        let json = JSON.array(changes.map { .object([JSON.Member("Path", .string($0.path)), JSON.Member("Kind", .int(Int64($0.kind)))]) })
        Output.writeAll(1, json.bytes + [0x0A])
    }

    /// The container's upper directory and its lower ones (top first), from its config.json.
    static func layers(_ options: Options) throws -> (upper: String, lowers: [String]) {
        let skiffRoot = try options.required("--root")
        let id = try options.required("--container")
        let bundle = skiffRoot + "/containers/" + id
        let data = try ContainerArchive.overlayData(bundle)
        var upper = "", lowers: [String] = []
        for option in data.split(separator: ",").map(String.init) {
            if option.hasPrefix("upperdir=") { upper = String(option.dropFirst(9)) }
            if option.hasPrefix("lowerdir=") { lowers = option.dropFirst(9).split(separator: ":").map(String.init) }
        }
        guard !upper.isEmpty else { throw WorkerFailure(.failed, "\(bundle)/config.json: the overlay root has no upperdir") }
        return (upper, lowers)
    }

    static func compute(upper: String, lowers: [String]) throws -> [Change] {
        let upperFD = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard upperFD >= 0 else { throw WorkerFailure(.failed, "open \(upper): \(String(cString: strerror(errno)))") }
        defer { close(upperFD) }
        let lowerFDs = lowers.map { open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }.filter { $0 >= 0 }
        defer { for fd in lowerFDs { close(fd) } }
        var changes: [Change] = []
        var changedDirectories: Set<String> = []
        func walk(_ fd: Int32, _ components: [String]) throws {
            for name in try TreeArchiver.names(fd, "/" + components.joined(separator: "/")) {
                let path = components + [name]
                let relative = path.joined(separator: "/")
                var info = stat()
                guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let isDirectory = info.st_mode & S_IFMT == S_IFDIR
                if mountPoints.contains(relative) && isPlaceholder(fd, name, info) { continue }
                var kind: Int? = 1
                if info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == 0 {
                    kind = 2
                } else if let lower = lowerStat(lowerFDs, path) {
                    kind = 0
                    if isDirectory && lower.st_mode & S_IFMT == S_IFDIR && lower.st_size == info.st_size
                        && lower.st_mode == info.st_mode && lower.st_mtim.tv_sec == info.st_mtim.tv_sec
                        && lower.st_mtim.tv_nsec == info.st_mtim.tv_nsec {
                        kind = nil
                    }
                }
                // A directory the runtime put mount points in (its mtime changed for them) is
                // reported only with a change below it (added after the walk).
                if kind == 0 && isDirectory && mountPointParents.contains(relative) { kind = nil }
                if let kind { changes.append(Change(path: "/" + relative, kind: kind)) }
                if isDirectory { changedDirectories.insert("/" + relative) }
                if kind == 1 || kind == 2, components.count > 0 {
                    let parent = "/" + components.joined(separator: "/")
                    if !changedDirectories.contains(parent) {
                        changes.append(Change(path: parent, kind: 0))
                        changedDirectories.insert(parent)
                    }
                }
                if isDirectory {
                    let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard child >= 0 else { continue }
                    defer { close(child) }
                    try walk(child, path)
                }
            }
        }
        try walk(upperFD, [])
        for parent in mountPointParents where changes.contains(where: { $0.path.hasPrefix("/" + parent + "/") }) {
            changes.append(Change(path: "/" + parent, kind: 0))
        }
        // A parent appended before its own entry was walked: once, in path order.
        var seen: Set<String> = []
        return changes.sorted().filter { seen.insert($0.path).inserted }
    }

    /// An empty directory or file: a mount point the runtime made, not something the container wrote.
    static func isPlaceholder(_ fd: Int32, _ name: String, _ info: stat) -> Bool {
        switch info.st_mode & S_IFMT {
        case S_IFREG: return info.st_size == 0
        case S_IFDIR:
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { return false }
            defer { close(child) }
            return ((try? TreeArchiver.names(child, name)) ?? ["?"]).isEmpty
        default: return false
        }
    }

    /// lstat of `path` in the first lower directory that has it, walked without following.
    static func lowerStat(_ lowers: [Int32], _ path: [String]) -> stat? {
        for lower in lowers {
            var fd = lower
            var ok = true
            for component in path.dropLast() {
                let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if fd != lower { close(fd) }
                guard next >= 0 else { ok = false; break }
                fd = next
            }
            guard ok else { continue }
            defer { if fd != lower { close(fd) } }
            var info = stat()
            if fstatat(fd, path.last!, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                // A higher layer's whiteout hides the name from the layers below.
                return info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == 0 ? nil : info
            }
        }
        return nil
    }
}

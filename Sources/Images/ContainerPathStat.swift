import Glibc
import Platform

/// What `HEAD /containers/{id}/archive` tells about a path (moby's `ContainerPathStat`, sent
/// base64-encoded JSON in `X-Docker-Container-Path-Stat`), found as moby's `ResolvePath` and
/// `StatPath` find it: the directory part is resolved inside the root (symlinks followed), the
/// last component is not followed unless the path ends in `/` or `/.`; a symlink's `linkTarget`
/// is where it leads, fully resolved, as an absolute path inside the root.
public struct ContainerPathStat: Sendable, Equatable {
    public var name: String
    public var size: Int64
    /// Go's `os.FileMode` bits (type bits high, permissions low).
    public var mode: UInt32
    public var mtime: timespec
    public var linkTarget: String

    public static func == (a: ContainerPathStat, b: ContainerPathStat) -> Bool {
        a.name == b.name && a.size == b.size && a.mode == b.mode && a.linkTarget == b.linkTarget
            && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
    }

    /// The wire form: `{"name","size","mode","mtime","linkTarget"}`.
    public var json: JSON {
        .object([JSON.Member("name", .string(name)), JSON.Member("size", .int(size)),
                 JSON.Member("mode", .int(Int64(mode))),
                 JSON.Member("mtime", .string(Timestamp.rfc3339Nano(mtime, utc: true))),
                 JSON.Member("linkTarget", .string(linkTarget))])
    }

    /// The path as moby sees it: absolute, cleaned, with a trailing `/` or `/.` kept.
    public static func absolute(_ path: String) -> String {
        let cleaned = FileSystem.cleanPath("/" + path)
        if path.hasSuffix("/.") || path == "." { return cleaned == "/" ? "/." : cleaned + "/." }
        if path.hasSuffix("/") && cleaned != "/" { return cleaned + "/" }
        return cleaned
    }

    /// Go's `filepath.Base` of an absolute path (`/` for the root).
    public static func base(_ absolute: String) -> String {
        let trimmed = absolute.split(separator: "/", omittingEmptySubsequences: true)
        return trimmed.last.map(String.init) ?? "/"
    }

    /// Resolves `path` in `root` as moby's `ResolvePath` does (the last component followed only
    /// after a trailing `/` or `/.`) and stats it.
    public static func resolve(_ path: String, in root: ScopedRoot) throws(ImageError) -> (ScopedRoot.Location, ContainerPathStat) {
        let absolute = absolute(path)
        let followLast = absolute.hasSuffix("/") || absolute.hasSuffix("/.")
        let location = try root.resolve(absolute, followLast: followLast)
        let info = try location.lstat()
        var linkTarget = ""
        if info.st_mode & S_IFMT == S_IFLNK {
            if let target = try? root.resolve(absolute, followLast: true) {
                linkTarget = target.path
            } else {
                // A dangling link: where it would lead, lexically.
                let text = location.name.flatMap { ScopedRoot.readLink(location.parent, $0) } ?? ""
                let directory = String(location.path[..<(location.path.lastIndex(of: "/") ?? location.path.startIndex)])
                linkTarget = FileSystem.cleanPath(text.hasPrefix("/") ? text : directory + "/" + text)
            }
        }
        let stat = ContainerPathStat(name: base(absolute), size: Int64(info.st_size), mode: goMode(info.st_mode),
                                     mtime: info.st_mtim, linkTarget: linkTarget)
        return (location, stat)
    }

    /// Go's `os.FileMode` for a `st_mode`.
    public static func goMode(_ mode: mode_t) -> UInt32 {
        var result = UInt32(mode & 0o777)
        switch mode & S_IFMT {
        case S_IFDIR: result |= 1 << 31
        case S_IFLNK: result |= 1 << 27
        case S_IFBLK: result |= 1 << 26
        case S_IFCHR: result |= 1 << 26 | 1 << 21
        case S_IFIFO: result |= 1 << 25
        case S_IFSOCK: result |= 1 << 24
        default: break
        }
        if mode & S_ISUID != 0 { result |= 1 << 23 }
        if mode & S_ISGID != 0 { result |= 1 << 22 }
        if mode & S_ISVTX != 0 { result |= 1 << 20 }
        return result
    }

    public var isDirectory: Bool { mode & (1 << 31) != 0 }
}

import CLinux
import Glibc
import Platform

/// Writes a file tree inside a container's root as a tar stream (`docker cp` out, `docker
/// export`), through directory descriptors only: every child is opened relative to its
/// directory with `O_NOFOLLOW`, a symlink is archived as a symlink and never followed, and what
/// is archived is what the opened descriptor shows (`fstat` after `open`), so a file swapped for
/// a symlink during the walk is skipped, not followed out of the root.
///
/// The walk stays on the mount it starts on: a directory that is another mount (the
/// container's /proc, /sys, /dev, a volume) is archived as an empty directory; a file that is
/// another mount (`/etc/hosts`) keeps its content only when `contentOfOtherMounts`.
/// Files with several links are archived once, then as hard links to the first name, as moby
/// does.
public final class TreeArchiver {
    public struct Options: Sendable {
        /// Files bind-mounted over the root's (hostname, hosts, resolv.conf) keep their content.
        public var contentOfOtherMounts = true
        /// Paths (relative to the walk's start, no leading `/`) that are left out.
        public var excluded: Set<String> = []
        /// The tree is an overlay upper directory and the archive a layer: a whiteout (a 0/0
        /// character device) becomes `.wh.NAME`, a directory whose xattr of this name is "y"
        /// gets a `.wh..wh..opq` entry (OCI image-spec).
        public var overlayOpaqueXattr: String?

        public init(contentOfOtherMounts: Bool = true, excluded: Set<String> = [], overlayOpaqueXattr: String? = nil) {
            self.contentOfOtherMounts = contentOfOtherMounts
            self.excluded = excluded
            self.overlayOpaqueXattr = overlayOpaqueXattr
        }
    }

    private let writer: TarWriter
    private let options: Options
    private var links: [String: String] = [:]
    private var mountID: UInt64 = 0
    public private(set) var entries = 0

    public init(sink: any ByteSink, options: Options = Options()) {
        writer = TarWriter(sink: sink)
        self.options = options
    }

    /// Archives the object at `location` (a directory with everything below it) under the name
    /// `name` (`/` for the root: its entries are then `/`, `/bin/`, ...), then ends the archive.
    public func archive(_ location: ScopedRoot.Location, as name: String) throws(ImageError) {
        let info = try location.lstat()
        mountID = TreeArchiver.mountID(location.parent, location.name ?? "")
        try add(parent: location.parent, name: location.name, path: name, relative: "", info: info)
        try writer.finish()
    }

    /// Archives what is in the directory `directory`, each name at the archive's top level
    /// (`docker export`), then ends the archive.
    public func archiveChildren(of directory: Int32) throws(ImageError) {
        mountID = TreeArchiver.mountID(directory, "")
        for child in try TreeArchiver.names(directory, "/") {
            var info = stat()
            guard fstatat(directory, child, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            try add(parent: directory, name: child, path: child, relative: child, info: info)
        }
        try writer.finish()
    }

    private func add(parent: Int32, name: String?, path: String, relative: String, info given: stat) throws(ImageError) {
        if !relative.isEmpty && options.excluded.contains(relative) { return }
        var info = given
        var entry = TarEntry(path: path, kind: .regular, size: 0, mode: UInt32(info.st_mode & 0o7777),
                             uid: Int(info.st_uid), gid: Int(info.st_gid), mtime: Int64(info.st_mtim.tv_sec),
                             linkTarget: "", deviceMajor: 0, deviceMinor: 0, xattrs: [])
        let sameMount = TreeArchiver.mountID(parent, name ?? "") == mountID
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            let fd = name.map { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                ?? openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            // Gone or swapped for something else since it was listed: left out.
            guard fd >= 0 else { return }
            defer { close(fd) }
            guard fstat(fd, &info) == 0 else { return }
            entry.kind = .directory
            entry.path = path.hasSuffix("/") ? path : path + "/"
            entry.mode = UInt32(info.st_mode & 0o7777)
            entry.uid = Int(info.st_uid)
            entry.gid = Int(info.st_gid)
            entry.mtime = Int64(info.st_mtim.tv_sec)
            try writer.entry(entry)
            entries += 1
            guard sameMount else { return }
            if let xattr = options.overlayOpaqueXattr {
                var value: UInt8 = 0
                if fgetxattr(fd, xattr, &value, 1) == 1 && value == UInt8(ascii: "y") {
                    try whiteout(entry.path + ".wh..wh..opq", entry.mtime)
                }
            }
            for child in try TreeArchiver.names(fd, path) {
                var childInfo = stat()
                guard fstatat(fd, child, &childInfo, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                try add(parent: fd, name: child, path: entry.path + child,
                        relative: relative.isEmpty ? child : relative + "/" + child, info: childInfo)
            }
        case S_IFREG:
            guard let name else { return }
            let fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
            entry.mode = UInt32(info.st_mode & 0o7777)
            entry.uid = Int(info.st_uid)
            entry.gid = Int(info.st_gid)
            entry.mtime = Int64(info.st_mtim.tv_sec)
            if info.st_nlink > 1 {
                let key = "\(info.st_dev):\(info.st_ino)"
                if let first = links[key] {
                    entry.kind = .hardlink
                    entry.linkTarget = first
                    try writer.entry(entry)
                    entries += 1
                    return
                }
                links[key] = path
            }
            let withContent = sameMount || options.contentOfOtherMounts
            entry.size = withContent ? Int(info.st_size) : 0
            try writer.entry(entry)
            entries += 1
            if withContent { try copyContent(fd) }
        case S_IFLNK:
            guard let name, let target = ScopedRoot.readLink(parent, name) else { return }
            entry.kind = .symlink
            entry.linkTarget = target
            try writer.entry(entry)
            entries += 1
        case S_IFCHR where options.overlayOpaqueXattr != nil && info.st_rdev == 0:
            guard let name else { return }
            let directory = path.dropLast(name.utf8.count)
            try whiteout(directory + ".wh." + name, entry.mtime)
        case S_IFCHR, S_IFBLK:
            entry.kind = info.st_mode & S_IFMT == S_IFCHR ? .characterDevice : .blockDevice
            entry.deviceMajor = skiff_major(info.st_rdev)
            entry.deviceMinor = skiff_minor(info.st_rdev)
            try writer.entry(entry)
            entries += 1
        case S_IFIFO:
            entry.kind = .fifo
            try writer.entry(entry)
            entries += 1
        default:
            return  // sockets: tar has no type for them (moby leaves them out too)
        }
    }

    /// An empty `.wh.` file (a whiteout in a layer).
    private func whiteout(_ path: String, _ mtime: Int64) throws(ImageError) {
        try writer.entry(TarEntry(path: path, kind: .regular, size: 0, mode: 0, uid: 0, gid: 0, mtime: mtime,
                                  linkTarget: "", deviceMajor: 0, deviceMinor: 0, xattrs: []))
        entries += 1
    }

    /// The file's content, exactly as many bytes as its header said: a file that grew is cut,
    /// one that shrank is padded with zeros.
    private func copyContent(_ fd: Int32) throws(ImageError) {
        try withUnsafeTemporaryAllocation(byteCount: 256 << 10, alignment: 16) { (buffer) throws(ImageError) in
            while writer.remainingContent > 0 {
                let want = min(buffer.count, writer.remainingContent)
                let n = Syscall.retrying { read(fd, buffer.baseAddress, want) }
                if n <= 0 { break }
                try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            try writer.padOwed()
        }
    }

    /// The names in a directory, sorted (a stable archive).
    public static func names(_ fd: Int32, _ path: String) throws(ImageError) -> [String] {
        let copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let dir = fdopendir(copy) else {
            throw ImageError(.io, "read directory \(path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let item = readdir(dir) {
            let child = String(fixedCString: item.pointee.d_name)
            if child != "." && child != ".." { names.append(child) }
        }
        return names.sorted()
    }

    /// The mount `name` in `parent` is on (0 when the kernel cannot tell).
    static func mountID(_ parent: Int32, _ name: String) -> UInt64 {
        var id: UInt64 = 0
        return skiff_mount_id(parent, name, &id) == 0 ? id : 0
    }
}

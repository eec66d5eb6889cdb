import CLinux
import CZlib
import Glibc
import Platform

/// Applies a layer tar onto a directory, safely.
///
/// - Every entry path is cleaned (empty and `.` components dropped) and must stay inside the
///   root: absolute paths, `..` components and `.wh..` names other than `.wh..wh..opq` are
///   refused with an error naming the entry.
/// - Everything is created through directory descriptors (`openat`, `mkdirat`, `symlinkat`,
///   `linkat`, `mknodat`) with `O_NOFOLLOW`, walking from the root one component at a time, and
///   a parent component that is a symlink is refused whoever created it: a symlink in the layer
///   (to `/`, or `a -> b`, `b -> ../..`) can never redirect a later entry. Symlinks themselves
///   may point anywhere; they are never followed here.
/// - Hardlink targets are resolved the same way (inside the root, no symlink on the way).
/// - Whiteouts (OCI image-spec): in `.flatten` mode `.wh.NAME` deletes NAME and
///   `.wh..wh..opq` empties its directory, sparing what this layer itself put there; in
///   `.overlayDiff` mode they become overlay whiteouts (a 0/0 character device) and the
///   opaque xattr (`user.overlay.opaque` or `trusted.overlay.opaque`, as configured).
/// - Modes (setuid/setgid/sticky kept: ownership is set before the mode), uid/gid, mtimes and
///   xattrs are applied; directory mtimes at the end.
///
/// On any error the applier stops and throws; the directory is then partially written and the
/// caller must delete it (e.g. `FileSystem.removeTree`), never use it.
public final class LayerApplier {
    public enum Mode: Sendable {
        /// Whiteouts delete from the directory (a flattened rootfs, lowest layer first).
        case flatten
        /// Whiteouts are kept as overlay whiteouts (a layer's `diff` directory for overlayfs).
        case overlayDiff(opaqueXattr: String)
        /// `docker cp` into a container (`PUT /containers/{id}/archive`), as moby's Unpack:
        /// `.wh.` names are ordinary names; a leading `/` is dropped and `..` is resolved
        /// lexically, an entry that would leave the directory refused; with
        /// `noOverwriteDirNonDir`, a directory never replaces a non-directory nor the reverse.
        /// `destination` (the directory's path in the container) only names it in messages.
        case copy(noOverwriteDirNonDir: Bool, destination: String)
    }

    public struct Options: Sendable {
        public var mode: Mode = .flatten
        /// Keep going when lchown fails with EPERM or EINVAL (an id the user namespace does not
        /// map), or mknod of a device with EPERM (rootless unpacking
        /// outside a user namespace with the full id map). Off: such failures are errors.
        public var tolerateEPERM = false
        /// Fail when an xattr cannot be set. Off: best effort, failures are counted.
        public var requireXattrs = false
        /// Every entry's owner instead of the archive's (`copyUIDGID`: the container's user).
        public var owner: (uid: Int, gid: Int)?

        public init(mode: Mode = .flatten, tolerateEPERM: Bool = false, requireXattrs: Bool = false,
                    owner: (uid: Int, gid: Int)? = nil) {
            self.mode = mode
            self.tolerateEPERM = tolerateEPERM
            self.requireXattrs = requireXattrs
            self.owner = owner
        }
    }

    /// What an application did.
    public struct Summary: Sendable, Equatable {
        public var entries = 0
        /// What the layer adds, as Docker sizes it: file contents plus symlink target lengths
        /// (the st_size of every non-directory entry; a hard link counts once, a whiteout 0).
        public var bytes = 0
        public var skippedOwnership = 0
        public var skippedDevices = 0
        public var failedXattrs = 0
    }

    private let root: String
    /// A directory descriptor given instead of `root` (not closed here).
    private let givenFD: Int32
    private let options: Options
    private var rootFD: Int32 = -1
    private var created: Set<String> = []
    private var directoryTimes: [([String], timespec)] = []
    private var summary = Summary()
    private var current = ""

    public init(root: String, options: Options = Options()) {
        self.root = root
        self.givenFD = -1
        self.options = options
    }

    /// Applies under the directory `fd` (an `O_PATH` descriptor is enough); `fd` stays open.
    public init(directory fd: Int32, name: String, options: Options = Options()) {
        self.root = name
        self.givenFD = fd
        self.options = options
    }

    private var isCopy: Bool {
        if case .copy = options.mode { return true }
        return false
    }

    /// What an entry is called in messages.
    private var noun: String { isCopy ? "tar entry" : "layer entry" }

    /// Applies every entry of `reader` under the root.
    @discardableResult
    public func apply(_ reader: TarReader) throws(ImageError) -> Summary {
        rootFD = givenFD >= 0 ? fcntl(givenFD, F_DUPFD_CLOEXEC, 3) : open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { throw ImageError(.io, "layer root \(root): open: \(LayerApplier.text(errno))") }
        defer { close(rootFD) }
        created = []
        directoryTimes = []
        summary = Summary()
        while let entry = try reader.next() {
            current = entry.path
            try applyEntry(entry, reader)
            summary.entries += 1
        }
        for (components, time) in directoryTimes.reversed() {
            current = components.joined(separator: "/")
            // A directory a later whiteout removed (or replaced) is skipped.
            guard let parent = try? openParent(components, create: false) else { continue }
            defer { if parent != rootFD { close(parent) } }
            var times = [time, time]
            if utimensat(parent, components.last!, &times, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT {
                throw fail("utimensat")
            }
        }
        return summary
    }

    // MARK: - Entries

    private func applyEntry(_ entry: TarEntry, _ reader: TarReader) throws(ImageError) {
        let components = try clean(entry.path)
        guard let name = components.last else {
            guard entry.kind == .directory else { throw invalid("names the root directory") }
            return  // "./": the root itself is not changed by a layer.
        }
        if name.hasPrefix(".wh.") && !isCopy {
            try applyWhiteout(components)
            return
        }
        let parent = try openParent(components, create: true)
        defer { if parent != rootFD { close(parent) } }
        // This layer's paths (and their parents) are spared by its own whiteouts.
        for end in components.indices { created.insert(components[...end].joined(separator: "/")) }
        var existing = stat()
        let exists = fstatat(parent, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        if exists, case .copy(true, let destination) = options.mode {
            let isDirectory = existing.st_mode & S_IFMT == S_IFDIR
            let path = destination == "/" ? "/" + components.joined(separator: "/")
                : destination + "/" + components.joined(separator: "/")
            if isDirectory && entry.kind != .directory {
                throw ImageError(.invalidArgument, "cannot overwrite directory \"\(path)\" with non-directory \"\(destination)\"")
            }
            if !isDirectory && entry.kind == .directory {
                throw ImageError(.invalidArgument, "cannot overwrite non-directory \"\(path)\" with directory \"\(destination)\"")
            }
        }
        if exists && !(entry.kind == .directory && existing.st_mode & S_IFMT == S_IFDIR) {
            try removeEntry(parent, name)
        }
        switch entry.kind {
        case .directory:
            if !exists || existing.st_mode & S_IFMT != S_IFDIR {
                guard mkdirat(parent, name, 0o700) == 0 else { throw fail("mkdirat") }
            }
            let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw fail("open") }
            defer { close(fd) }
            try setMetadata(fd: fd, entry)
            directoryTimes.append((components, timespec(tv_sec: Int(entry.mtime), tv_nsec: Int(entry.mtimeNanoseconds))))
        case .regular:
            let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw fail("open") }
            defer { close(fd) }
            try copyContent(reader, to: fd)
            try setMetadata(fd: fd, entry)
            try setTime(parent, name, entry)
        case .symlink:
            guard symlinkat(entry.linkTarget, parent, name) == 0 else { throw fail("symlinkat") }
            summary.bytes += entry.linkTarget.utf8.count
            try setMetadata(parent: parent, name: name, entry, setMode: false)
        case .hardlink:
            let target = try clean(entry.linkTarget, what: "hardlink target")
            guard let targetName = target.last else { throw invalid("is a hardlink to the root directory") }
            let targetParent = try openParent(target, create: false)
            defer { if targetParent != rootFD { close(targetParent) } }
            var info = stat()
            guard fstatat(targetParent, targetName, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw ImageError(.invalidArgument, "\(noun) \"\(current)\": hardlink target \"\(entry.linkTarget)\" does not exist")
            }
            guard info.st_mode & S_IFMT != S_IFDIR else { throw invalid("is a hardlink to a directory") }
            guard linkat(targetParent, targetName, parent, name, 0) == 0 else { throw fail("linkat") }
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : (entry.kind == .blockDevice ? S_IFBLK : S_IFCHR)
            let device = entry.kind == .fifo ? 0 : skiff_makedev(entry.deviceMajor, entry.deviceMinor)
            if mknodat(parent, name, type | 0o600, device) != 0 {
                if errno == EPERM && options.tolerateEPERM && entry.kind != .fifo {
                    summary.skippedDevices += 1
                    return
                }
                // A copy into a container whose user namespace forbids device nodes: the
                // archive asks for what cannot be, here.
                if errno == EPERM && isCopy {
                    throw invalid("is a device node, which cannot be created in this container (mknodat: Operation not permitted)")
                }
                throw fail("mknodat")
            }
            try setMetadata(parent: parent, name: name, entry, setMode: true)
        }
    }

    private func applyWhiteout(_ components: [String]) throws(ImageError) {
        let name = components.last!
        let isOpaque = name == ".wh..wh..opq"
        if name.hasPrefix(".wh..") && !isOpaque {
            throw invalid("is a reserved whiteout name")
        }
        let hidden = String(name.dropFirst(4))
        if !isOpaque && hidden.isEmpty { throw invalid("is a whiteout without a name") }
        let directory = Array(components.dropLast())
        let parent = try openParent(components, create: true)
        defer { if parent != rootFD { close(parent) } }
        let prefix = directory.isEmpty ? "" : directory.joined(separator: "/") + "/"
        switch (options.mode, isOpaque) {
        case (.flatten, true):
            // Delete what lower layers put in the directory, not what this layer did.
            let copy = dup(parent)
            guard copy >= 0, let dir = fdopendir(copy) else { throw fail("opendir") }
            var names: [String] = []
            while let item = readdir(dir) {
                let child = String(fixedCString: item.pointee.d_name)
                if child != "." && child != ".." && !created.contains(prefix + child) { names.append(child) }
            }
            closedir(dir)
            for child in names { try removeEntry(parent, child) }
        case (.flatten, false):
            if created.contains(prefix + hidden) { return }
            var info = stat()
            if fstatat(parent, hidden, &info, AT_SYMLINK_NOFOLLOW) == 0 { try removeEntry(parent, hidden) }
        case (.overlayDiff(let xattr), true):
            guard fsetxattr(parent, xattr, "y", 1, 0) == 0 else { throw fail("setxattr \(xattr)") }
        case (.copy, _):
            return  // not reached: copies have no whiteouts
        case (.overlayDiff, false):
            var info = stat()
            if fstatat(parent, hidden, &info, AT_SYMLINK_NOFOLLOW) == 0 { try removeEntry(parent, hidden) }
            guard mknodat(parent, hidden, S_IFCHR | 0o000, skiff_makedev(0, 0)) == 0 else { throw fail("mknodat (whiteout)") }
            created.insert(prefix + hidden)
        }
    }

    // MARK: - Paths

    /// The components of a path inside the root; refuses anything that could leave it.
    private func clean(_ path: String, what: String = "path") throws(ImageError) -> [String] {
        if case .copy(_, let destination) = options.mode {
            // moby's Unpack: filepath.Join(dest, filepath.Clean(name)) must stay under dest.
            var components: [String] = []
            for part in path.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
                if part == ".." {
                    guard !components.isEmpty || path.hasPrefix("/") else {
                        throw ImageError(.invalidArgument, "\"\(path)\" is outside of \"\(destination)\"")
                    }
                    _ = components.popLast()
                    continue
                }
                components.append(String(part))
            }
            return components
        }
        if path.hasPrefix("/") { throw invalid("has an absolute \(what) \"\(path)\"") }
        var components: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { throw invalid("has a \(what) \"\(path)\" that leaves the root") }
            components.append(String(part))
        }
        return components
    }

    /// A descriptor of the directory holding the last component, walked from the root with
    /// O_NOFOLLOW; missing directories are created (mode 0755) when `create` is set. A
    /// component that is a symlink or not a directory is refused. Returns `rootFD` itself for
    /// a top-level name (do not close it).
    private func openParent(_ components: [String], create: Bool) throws(ImageError) -> Int32 {
        var fd = rootFD
        for (index, component) in components.dropLast().enumerated() {
            var next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, component, 0o755) != 0 && errno != EEXIST {
                    let error = fail("mkdirat")
                    if fd != rootFD { close(fd) }
                    throw error
                }
                created.insert(components[...index].joined(separator: "/"))
                next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let code = errno
            if fd != rootFD { close(fd) }
            guard next >= 0 else {
                let at = components[...index].joined(separator: "/")
                switch code {
                case ELOOP, ENOTDIR:
                    throw invalid("goes through \"\(at)\", which is a symlink or not a directory")
                case ENOENT:
                    throw ImageError(.invalidArgument, "\(noun) \"\(current)\": \"\(at)\" does not exist")
                default:
                    throw ImageError(.io, "\(noun) \"\(current)\": open \(at): \(LayerApplier.text(code))")
                }
            }
            fd = next
        }
        return fd
    }

    /// `rm -r` of one name in a directory, through descriptors, never following symlinks.
    private func removeEntry(_ parent: Int32, _ name: String) throws(ImageError) {
        if unlinkat(parent, name, 0) == 0 || errno == ENOENT { return }
        guard errno == EISDIR || errno == EPERM else { throw fail("unlink \(name)") }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0, let dir = fdopendir(fd) else { throw fail("open \(name)") }
        var names: [String] = []
        while let item = readdir(dir) {
            let child = String(fixedCString: item.pointee.d_name)
            if child != "." && child != ".." { names.append(child) }
        }
        let inner = dup(fd)
        closedir(dir)
        guard inner >= 0 else { throw fail("dup") }
        defer { close(inner) }
        for child in names { try removeEntry(inner, child) }
        guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else { throw fail("rmdir \(name)") }
    }

    // MARK: - Content and metadata

    private func copyContent(_ reader: TarReader, to fd: Int32) throws(ImageError) {
        try withUnsafeTemporaryAllocation(byteCount: 64 << 10, alignment: 16) { (buffer) throws(ImageError) in
            while true {
                // A pipe's bytes go to the file in the kernel; what the reader holds, through memory.
                let spliced: Int?
                do throws(ImageError) {
                    spliced = try reader.splice(to: fd)
                } catch {
                    guard error.code == .io else { throw error }
                    throw ImageError(.io, "\(noun) \"\(current)\": \(error.message)", systemErrno: error.systemErrno)
                }
                if let spliced {
                    if spliced == 0 { return }
                    summary.bytes += spliced
                    continue
                }
                let n = try reader.read(into: buffer)
                if n == 0 { return }
                var written = 0
                while written < n {
                    let w = Syscall.retrying { write(fd, buffer.baseAddress! + written, n - written) }
                    if w < 0 {
                        throw fail("write")
                    }
                    written += w
                }
                summary.bytes += n
            }
        }
    }

    /// Owner, then mode (so setuid survives), then xattrs, on an open file or directory.
    private func setMetadata(fd: Int32, _ entry: TarEntry) throws(ImageError) {
        let (uid, gid) = options.owner ?? (entry.uid, entry.gid)
        if fchown(fd, uid_t(truncatingIfNeeded: uid), gid_t(truncatingIfNeeded: gid)) != 0 {
            try ownershipFailed()
        }
        guard fchmod(fd, mode_t(entry.mode)) == 0 else { throw fail("chmod") }
        for (name, value) in entry.xattrs {
            let status = value.withUnsafeBytes { fsetxattr(fd, name, $0.baseAddress, $0.count, 0) }
            if status != 0 { try xattrFailed(name) }
        }
    }

    /// The same for a symlink, device or fifo, by name (never followed).
    private func setMetadata(parent: Int32, name: String, _ entry: TarEntry, setMode: Bool) throws(ImageError) {
        let (uid, gid) = options.owner ?? (entry.uid, entry.gid)
        if fchownat(parent, name, uid_t(truncatingIfNeeded: uid), gid_t(truncatingIfNeeded: gid), AT_SYMLINK_NOFOLLOW) != 0 {
            try ownershipFailed()
        }
        if setMode && fchmodat(parent, name, mode_t(entry.mode), 0) != 0 { throw fail("chmod") }
        if !entry.xattrs.isEmpty {
            // The directory is trusted (opened without following); the name is not followed.
            let path = "/proc/self/fd/\(parent)/\(name)"
            for (xattr, value) in entry.xattrs {
                let status = value.withUnsafeBytes { lsetxattr(path, xattr, $0.baseAddress, $0.count, 0) }
                if status != 0 { try xattrFailed(xattr) }
            }
        }
        try setTime(parent, name, entry)
    }

    private func setTime(_ parent: Int32, _ name: String, _ entry: TarEntry) throws(ImageError) {
        let time = timespec(tv_sec: Int(entry.mtime), tv_nsec: Int(entry.mtimeNanoseconds))
        var times = [time, time]
        guard utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw fail("utimensat") }
    }

    private func ownershipFailed() throws(ImageError) {
        // EPERM outside a user namespace; EINVAL inside one whose map lacks the id.
        if (errno == EPERM || errno == EINVAL) && options.tolerateEPERM {
            summary.skippedOwnership += 1
            return
        }
        throw fail("lchown")
    }

    private func xattrFailed(_ name: String) throws(ImageError) {
        if options.requireXattrs { throw fail("setxattr \(name)") }
        summary.failedXattrs += 1
    }

    // MARK: - Errors

    private func invalid(_ what: String) -> ImageError {
        ImageError(.invalidArgument, "\(noun) \"\(current)\" \(what)")
    }

    private func fail(_ operation: String) -> ImageError {
        ImageError(.io, "\(noun) \"\(current)\": \(operation): \(LayerApplier.text(errno))")
    }

    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}

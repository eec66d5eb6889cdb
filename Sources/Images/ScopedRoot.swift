import CLinux
import Glibc
import Platform

/// A container's root directory, held as a descriptor, and paths resolved inside it the way a
/// process chrooted there would resolve them, without ever leaving it.
///
/// Resolution walks one component at a time from the root descriptor with
/// `openat(O_PATH | O_NOFOLLOW)`; a symlink is read (`readlinkat`) and its target resolved in
/// turn from the root (absolute) or its directory (relative); `..` goes up the chain of opened
/// directories and stops at the root (as `openat2(RESOLVE_IN_ROOT)` does). The kernel never
/// follows a link for us, so a magic link (`/proc/self/root` inside the container) is only a
/// string, and a symlink swapped in during a copy (CVE-2018-15664) can only redirect the walk to
/// another place inside the root. Each result is a descriptor: what is opened next is opened
/// relative to it, never by path again.
public final class ScopedRoot {
    /// A resolved object: the directory holding it (a descriptor) and its name there, or the
    /// root itself (`name` nil). `path` is its absolute path inside the root, symlinks resolved.
    public final class Location {
        public let parent: Int32
        public let name: String?
        public let path: String
        private let ownsParent: Bool

        init(parent: Int32, name: String?, path: String, ownsParent: Bool) {
            self.parent = parent
            self.name = name
            self.path = path
            self.ownsParent = ownsParent
        }

        deinit { if ownsParent { close(parent) } }

        /// lstat of the object.
        public func lstat() throws(ImageError) -> stat {
            var info = stat()
            let status = name.map { fstatat(parent, $0, &info, AT_SYMLINK_NOFOLLOW) } ?? fstat(parent, &info)
            guard status == 0 else { throw ScopedRoot.failure("lstat", path, errno) }
            return info
        }

        /// Opens the object (never following a symlink in its place).
        public func open(_ flags: Int32) throws(ImageError) -> Int32 {
            let fd = name.map { openat(parent, $0, flags | O_NOFOLLOW | O_CLOEXEC) }
                ?? openat(parent, ".", flags | O_CLOEXEC)
            guard fd >= 0 else { throw ScopedRoot.failure("open", path, errno) }
            return fd
        }
    }

    /// The root: a directory descriptor (O_PATH is enough).
    public let fd: Int32
    private let owns: Bool

    /// The most symlinks one resolution follows (Linux's MAXSYMLINKS).
    public static let symlinkLimit = 40

    public init(fd: Int32, owns: Bool = true) {
        self.fd = fd
        self.owns = owns
    }

    deinit { if owns { close(fd) } }

    /// Resolves `path` (absolute or not: either way from the root). Every symlink on the way is
    /// followed inside the root; the last component's too when `followLast`. A missing component
    /// throws `.notFound`.
    public func resolve(_ path: String, followLast: Bool) throws(ImageError) -> Location {
        var pending = ArraySlice(ScopedRoot.components(path))
        // The open directories from the root down: (name, descriptor).
        var chain: [(String, Int32)] = []
        var links = 0
        func top() -> Int32 { chain.last?.1 ?? fd }
        func logical() -> String { "/" + chain.map(\.0).joined(separator: "/") }
        func unwind() { for (_, d) in chain { close(d) } }
        while let component = pending.first {
            pending = pending.dropFirst()
            if component == ".." {
                if let last = chain.popLast() { close(last.1) }
                continue
            }
            let next = openat(top(), component, SKIFF_O_PATH_FLAG | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                let code = errno
                let at = logical() == "/" ? "/" + component : logical() + "/" + component
                unwind()
                throw ScopedRoot.failure("open", at, code)
            }
            var info = stat()
            guard fstat(next, &info) == 0 else {
                let code = errno
                close(next)
                unwind()
                throw ScopedRoot.failure("stat", component, code)
            }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFLNK && (followLast || !pending.isEmpty) {
                links += 1
                let target = ScopedRoot.readLink(next)
                close(next)
                guard links <= ScopedRoot.symlinkLimit, let target else {
                    unwind()
                    throw ScopedRoot.failure("resolve", path, ELOOP)
                }
                if target.hasPrefix("/") {
                    unwind()
                    chain = []
                }
                pending = ArraySlice(ScopedRoot.components(target)) + pending
                continue
            }
            if !pending.isEmpty && kind != S_IFDIR {
                close(next)
                let at = logical() == "/" ? "/" + component : logical() + "/" + component
                unwind()
                throw ScopedRoot.failure("open", at + "/" + pending.joined(separator: "/"), ENOTDIR)
            }
            chain.append((component, next))
        }
        guard let last = chain.popLast() else {
            return Location(parent: fd, name: nil, path: "/", ownsParent: false)
        }
        close(last.1)
        let path = chain.isEmpty ? "/" + last.0 : logical() + "/" + last.0
        // The parent's descriptor is kept; the others close.
        if let parent = chain.popLast() {
            unwind()
            return Location(parent: parent.1, name: last.0, path: path, ownsParent: true)
        }
        return Location(parent: fd, name: last.0, path: path, ownsParent: false)
    }

    /// The non-empty components of a path, `.` dropped (`..` kept: the walk handles it).
    public static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
    }

    /// The target of the symlink `fd` (an O_PATH descriptor of it).
    static func readLink(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, "", &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The target of the symlink `name` in `directory`.
    public static func readLink(_ directory: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A failed step on a path inside the root: ENOENT and ENOTDIR (no such path) are
    /// `.notFound`, ELOOP (a symlink loop) `.invalidArgument`, the rest `.io`.
    static func failure(_ step: String, _ path: String, _ code: Int32) -> ImageError {
        let kind: ImageError.Code = code == ENOENT || code == ENOTDIR ? .notFound : (code == ELOOP ? .invalidArgument : .io)
        return ImageError(kind, "\(step) \(path): \(String(cString: strerror(code)))", systemErrno: code)
    }
}

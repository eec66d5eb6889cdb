#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the errno, the call, and the path it concerned.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public var errno: Int32
    public var operation: String
    public var path: String

    public init(errno: Int32, operation: String, path: String) {
        self.errno = errno
        self.operation = operation
        self.path = path
    }

    /// `strerror(errno)`: "No such file or directory".
    public var text: String { String(cString: strerror(errno)) }

    /// "open /etc/x: No such file or directory"; "poll: Invalid argument" without a path.
    public var description: String { path.isEmpty ? "\(operation): \(text)" : "\(operation) \(path): \(text)" }
}

/// File operations the modules share, without Foundation. Each retries EINTR and reports
/// failures as `SystemError`.
public enum FileSystem {
    /// A whole (small) file. More than `limit` bytes fails with EFBIG.
    public static func readFile(_ path: String, limit: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in Syscall.retrying { read(fd, raw.baseAddress, raw.count) } }
            guard n >= 0 else { throw SystemError(errno: errno, operation: "read", path: path) }
            if n == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > limit { throw SystemError(errno: EFBIG, operation: "read", path: path) }
        }
    }

    /// `mkdir -p`; directories it creates get `mode`.
    public static func makeDirectories(_ path: String, mode: mode_t) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw SystemError(errno: errno, operation: "mkdir", path: prefix)
            }
        }
    }

    /// Writes a temporary file beside `path` and renames it over `path`, so a crash leaves the old
    /// contents or the new, never a mix. `durable`: fsync before the rename, so that the new
    /// contents also survive a power cut (not needed for state that a reboot makes meaningless).
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600,
                                       durable: Bool = true) throws(SystemError) {
        let temporary = path + ".tmp"
        let fd = try Syscall.retrying("open", temporary) { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in Syscall.retrying { write(fd, raw.baseAddress, raw.count) } }
            if n < 0 {
                let error = SystemError(errno: errno, operation: "write", path: temporary)
                close(fd)
                unlink(temporary)
                throw error
            }
            offset += n
        }
        guard !durable || fsync(fd) == 0 else {
            let error = SystemError(errno: errno, operation: "fsync", path: temporary)
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = SystemError(errno: errno, operation: "rename", path: temporary)
            unlink(temporary)
            throw error
        }
    }

    /// The names in a directory (without `.` and `..`); nil when it cannot be opened.
    public static func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(fixedCString: entry.pointee.d_name)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// `rm -r` that never follows symlinks. A directory of ours that we may not read or enter
    /// (overlayfs makes its `work/work` mode 000) is opened up first.
    public static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            if info.st_mode & 0o500 != 0o500 && info.st_uid == geteuid() { chmod(path, 0o700) }
            for name in directoryEntries(path) ?? [] {
                removeTree(path + "/" + name)
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

extension String {
    /// A NUL-terminated C string held in a fixed-size array (a tuple in Swift: `utsname`
    /// fields, `dirent.d_name`, message buffers).
    public init<T>(fixedCString tuple: T) {
        self = withUnsafeBytes(of: tuple) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }
}

extension FileSystem {
    /// `path` cleaned lexically, as Go's path.Clean: `.` dropped, `..` takes the part before it
    /// (and stops at the root), repeated slashes joined; "." for an empty relative result.
    public static func cleanPath(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}

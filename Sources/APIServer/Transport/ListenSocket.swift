import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Where the service listens: a socket systemd handed over, or a path of its own.
public enum ListenSocket: Equatable, Sendable {
    /// Socket activation: the unix socket systemd passed (`ActivatedSockets`).
    case inherited(fd: CInt)
    /// A socket file of the service's own. `ownDirectory`: the directory is Skiff's (the default
    /// `$XDG_RUNTIME_DIR/skiff`), so it is made private (0700) even if it exists; a directory
    /// named with `--socket` is only created when missing, never changed.
    case path(String, ownDirectory: Bool)

    /// Makes the socket's directory and clears the way for binding: a socket file left by a dead
    /// service is removed; a live one, or a file that is not a socket, is refused.
    public static func prepare(path: String, ownDirectory: Bool) throws {
        guard path.utf8.count < 108 else {
            throw ServiceError("socket path is too long (\(path.utf8.count) bytes, at most 107): \(path)")
        }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/")
        if !directory.isEmpty {
            try makeDirectory(directory, enforcePrivate: ownDirectory)
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw ServiceError("\(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ServiceError("\(path) exists and is not a socket; refusing to replace it")
        }
        switch probe(path) {
        case 0:
            throw ServiceError("another service is already listening on \(path)")
        case ECONNREFUSED:
            break   // nobody listens: a dead service's socket
        case let error:
            throw ServiceError("cannot tell whether \(path) is in use: \(String(cString: strerror(error)))")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ServiceError("remove stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Connects to the socket at `path`: 0 when something accepts connections there, else the
    /// errno (`ECONNREFUSED`: a socket file nobody listens on).
    static func probe(_ path: String) -> Int32 {
        do {
            close(try UnixSocket.connect(path))
            return 0
        } catch {
            return error.errno
        }
    }

    /// `mkdir -p`, directories it creates get mode 0700. With `enforcePrivate` the directory
    /// must belong to this user and is made 0700 if it is not.
    static func makeDirectory(_ directory: String, enforcePrivate: Bool) throws {
        do {
            try FileSystem.makeDirectories(directory, mode: 0o700)
        } catch {
            throw ServiceError(error.description)
        }
        guard enforcePrivate else { return }
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw ServiceError("\(directory): \(String(cString: strerror(errno)))")
        }
        guard info.st_uid == geteuid() else {
            throw ServiceError("\(directory) belongs to uid \(info.st_uid), not to this user (\(geteuid()))")
        }
        if info.st_mode & 0o777 != 0o700 && chmod(directory, 0o700) != 0 {
            throw ServiceError("chmod 0700 \(directory): \(String(cString: strerror(errno)))")
        }
    }
}

/// Why the service could not start.
public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

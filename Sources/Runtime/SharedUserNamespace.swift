import CRuntime
import Platform
import UserNamespace

#if canImport(Glibc)
import Glibc
#endif

/// The user namespace rootless containers share, as with Podman's pause process: mapping a new
/// namespace to the /etc/subuid ranges takes the setuid newuidmap and newgidmap, two programs
/// to run (the largest part of a container's start), so one namespace is mapped once and kept
/// by a small process, `skiff-relay --keep-userns` (skiff-relay's keeper.c), and each container
/// joins it and makes its other namespaces inside it.
///
/// The keeper listens on `<runtime root>/.userns.sock` and hands out a descriptor of its
/// namespace. It ends after `idleSeconds` without a container start, or when its socket goes
/// (the runtime directory was removed); running containers keep the namespace, and the next
/// start makes a new keeper. A keeper whose maps differ from the ones wanted (the subuid file
/// changed) is not used.
public enum SharedUserNamespace {
    public static let idleSeconds = 60

    /// A descriptor of the shared namespace mapped as `uid`/`gid` (the caller closes it); made,
    /// with its keeper, when there is none. Throws when neither works: the caller then makes a
    /// namespace of the container's own.
    static func acquire(runtimeRoot: String, relay: String, uid: [IDMapping], gid: [IDMapping], id: String) throws -> Int32 {
        let socket = runtimeRoot + "/.userns.sock"
        if let fd = connect(socket, uid: uid, gid: gid) { return fd }
        // One keeper at a time: concurrent starts wait here for the first to make it.
        let lock = open(runtimeRoot + "/.userns.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw FileIO.system("\(id): open \(runtimeRoot)/.userns.lock") }
        defer { close(lock) }
        guard Syscall.retrying({ flock(lock, LOCK_EX) }) == 0 else { throw FileIO.system("\(id): flock .userns.lock") }
        if let fd = connect(socket, uid: uid, gid: gid) { return fd }
        try start(socket: socket, relay: relay, uid: uid, gid: gid, id: id)
        guard let fd = connect(socket, uid: uid, gid: gid) else {
            throw RuntimeError(.system, "\(id): the user namespace keeper did not answer")
        }
        return fd
    }

    /// The keeper's namespace, when one answers at `socket` with the maps wanted.
    static func connect(_ socket: String, uid: [IDMapping], gid: [IDMapping]) -> Int32? {
        var fd: Int32 = -1
        var pid: Int32 = 0
        guard skiff_keeper_connect(socket, &fd, &pid) == 0 else { return nil }
        guard pid > 0, maps(of: pid, file: "uid_map") == normalized(uid.procText),
              maps(of: pid, file: "gid_map") == normalized(gid.procText) else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Makes the keeper: listening socket, process in a new user namespace, maps, exec.
    static func start(socket: String, relay: String, uid: [IDMapping], gid: [IDMapping], id: String) throws {
        let listener = skiff_keeper_listen(socket)
        guard listener >= 0 else {
            throw RuntimeError(.system, "\(id): listen on \(socket): \(errnoText(-listener))", errno: -listener)
        }
        defer { close(listener) }
        let strings = CStrings()
        var argv: [UnsafeMutablePointer<CChar>?] = strings.array([relay, "--keep-userns", socket, String(idleSeconds)])
            .map { UnsafeMutablePointer(mutating: $0) } + [nil]
        var go: Int32 = -1
        let pid = skiff_keeper_start(relay, &argv, listener, &go)
        withExtendedLifetime(strings) {}
        guard pid > 0 else {
            unlink(socket)
            throw RuntimeError(.system, "\(id): start the user namespace keeper: \(errnoText(-pid))", errno: -pid)
        }
        defer { close(go) }
        do {
            try IDMapWriter.write(pid: pid, uid: uid, gid: gid, id: id)
        } catch {
            // Closing `go` without a byte ends the keeper.
            unlink(socket)
            throw RuntimeError(error)
        }
        var byte: UInt8 = UInt8(ascii: "g")
        guard write(go, &byte, 1) == 1 else {
            unlink(socket)
            throw FileIO.system("\(id): start the user namespace keeper")
        }
    }

    static func maps(of pid: Int32, file: String) -> String? {
        FileIO.read("/proc/\(pid)/\(file)").map { normalized(String(decoding: $0, as: UTF8.self)) }
    }

    /// The lines of an id map with their columns single-spaced (/proc pads them).
    static func normalized(_ text: String) -> String {
        text.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }.joined(separator: "\n")
    }
}

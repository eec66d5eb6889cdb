import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Writes a new user namespace's id maps: directly when allowed (root, or only the caller's own
/// id), else through the setuid `newuidmap`/`newgidmap` helpers, which check /etc/subuid and
/// /etc/subgid.
public enum IDMapWriter {
    /// `id` names the object in errors (`create 3f2a`'s container id, `image worker`).
    public static func write(pid: Int32, uid: [IDMapping], gid: [IDMapping], id: String) throws(UserNamespaceError) {
        let isRoot = getuid() == 0
        let ownGIDOnly = gid.count == 1 && gid[0].hostID == getgid() && gid[0].size == 1
        let ownUIDOnly = uid.count == 1 && uid[0].hostID == getuid() && uid[0].size == 1
        // The setuid helpers run at the same time (each takes a millisecond or two to start).
        var helpers: [(String, [IDMapping], Spawn.Capture)] = []
        defer { for (_, _, running) in helpers { _ = running.finish() } }
        if isRoot || ownGIDOnly {
            if !isRoot {
                // An unprivileged process may map its own gid only after giving up setgroups.
                try writeProc(pid: pid, file: "setgroups", text: "deny", id: id)
            }
            try writeProc(pid: pid, file: "gid_map", text: gid.procText, id: id)
        } else {
            helpers.append(("newgidmap", gid, try start("newgidmap", pid: pid, gid, id: id)))
        }
        if isRoot || ownUIDOnly {
            try writeProc(pid: pid, file: "uid_map", text: uid.procText, id: id)
        } else {
            helpers.append(("newuidmap", uid, try start("newuidmap", pid: pid, uid, id: id)))
        }
        let finished = helpers.map { ($0.0, $0.1, $0.2.finish()) }
        helpers = []
        for (helper, mappings, result) in finished where result.status != 0 {
            var message = result.stderr
            while message.hasSuffix("\n") { message.removeLast() }
            throw UserNamespaceError(.permissionDenied,
                "create \(id): \(helper) \(pid) \(mappings.helperArguments.joined(separator: " ")): "
                + (message.isEmpty ? "exit status \(result.status)" : message))
        }
    }

    private static func start(_ helper: String, pid: Int32, _ mappings: [IDMapping], id: String)
        throws(UserNamespaceError) -> Spawn.Capture {
        do {
            return try Spawn.capturingErrors([helper, String(pid)] + mappings.helperArguments)
        } catch {
            throw UserNamespaceError(error.errno == ENOENT ? .notFound : .system, "\(helper): \(error.text)",
                                     errno: error.errno)
        }
    }

    private static func writeProc(pid: Int32, file: String, text: String, id: String) throws(UserNamespaceError) {
        let path = "/proc/\(pid)/\(file)"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("create \(id): open \(path)") }
        defer { close(fd) }
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else {
            var shown = text
            while shown.hasSuffix("\n") { shown.removeLast() }
            throw failure("create \(id): write \(path) \"\(shown)\"")
        }
    }

    private static func failure(_ what: String) -> UserNamespaceError {
        let e = errno
        return UserNamespaceError(.system, "\(what): \(String(cString: strerror(e)))", errno: e)
    }
}

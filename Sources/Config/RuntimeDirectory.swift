#if canImport(Glibc)
import Glibc
#endif

/// The runtime directory of a user whose environment has no `XDG_RUNTIME_DIR` (a service started
/// by `systemd-socket-activate` without `-E`, by `su`, by cron, in an ssh session without
/// pam_systemd), chosen as Podman chooses it: `/run/user/UID` when it is the user's own (a
/// directory, not a link, owned by the user, mode 0700); else a private `$TMPDIR/skiff-run-UID`
/// (`/tmp` without TMPDIR), made with mode 0700 and used only when it then passes the same
/// checks (another user may have made it first). When neither will do there is none, and the
/// error says what to set.
public enum RuntimeDirectory {
    public struct Unusable: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The directory to use as `XDG_RUNTIME_DIR`. `userRunRoot`: where logind makes the users'
    /// directories (`/run/user`).
    public static func fallback(uid: uid_t, temporaryDirectory: String,
                                userRunRoot: String = "/run/user") throws(Unusable) -> String {
        let session = userRunRoot + "/\(uid)"
        guard let sessionProblem = problem(session, uid: uid) else { return session }
        let base = temporaryDirectory.hasPrefix("/") ? temporaryDirectory : "/tmp"
        let own = (base.hasSuffix("/") && base.count > 1 ? String(base.dropLast()) : base) + "/skiff-run-\(uid)"
        var ownProblem: String?
        if mkdir(own, 0o700) != 0 && errno != EEXIST {
            ownProblem = "mkdir: \(String(cString: strerror(errno)))"
        } else {
            ownProblem = problem(own, uid: uid)
        }
        guard let ownProblem else { return own }
        throw Unusable(description: "XDG_RUNTIME_DIR is not set, and neither \(session) (\(sessionProblem)) nor "
                       + "\(own) (\(ownProblem)) can be the runtime directory: set XDG_RUNTIME_DIR to a "
                       + "directory of your own with mode 0700")
    }

    /// Why `path` cannot be `uid`'s runtime directory, nil when it can.
    static func problem(_ path: String, uid: uid_t) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return String(cString: strerror(errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: break
        case S_IFLNK: return "a symbolic link"
        default: return "not a directory"
        }
        if info.st_uid != uid { return "owned by uid \(info.st_uid)" }
        let mode = info.st_mode & 0o7777
        if mode != 0o700 { return "mode 0\(String(mode, radix: 8)), not 0700" }
        return nil
    }
}

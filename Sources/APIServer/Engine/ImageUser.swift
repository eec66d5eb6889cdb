#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Platform

/// The process identity of `Config.User` (`name`, `uid`, `name:group`, `uid:gid`), looked up in
/// the image's /etc/passwd and /etc/group as runc's GetExecUser does. The files are read from
/// the layer directories top layer first, as the overlay would show them: a whiteout (a 0/0
/// character device) or an opaque directory above hides what is below.
struct ImageUser: Sendable, Equatable {
    var uid: UInt32
    var gid: UInt32
    var additionalGids: [UInt32]
    var home: String

    /// The largest uid or gid a container may run as: runc's and Podman's limit. setresuid(2)
    /// and setresgid(2) read 4294967295 (-1) as "leave unchanged", so without the limit such a
    /// user would keep running as root.
    static let maximumID: Int64 = 2_147_483_647
    static let rangeMessage = "uids and gids must be in range 0-\(maximumID)"

    /// `layers`: the layer `diff` directories, top first. `groupAdd`: HostConfig.GroupAdd.
    ///
    /// The groups are moby's (`getUser`, the fix of CVE-2023-25173 in containerd's terms): the
    /// primary gid first, then, when the spec names no group, every /etc/group entry listing the
    /// user's name (root's too), then `groupAdd`; each gid once.
    static func resolve(_ spec: String, layers: [String], groupAdd: [String] = []) throws -> ImageUser {
        let passwd = readLayered("etc/passwd", layers: layers).map(parsePasswd) ?? []
        let groups = readLayered("etc/group", layers: layers).map(parseGroup) ?? []
        var userPart = spec, groupPart: String?
        if let colon = spec.firstIndex(of: ":") {
            userPart = String(spec[..<colon])
            groupPart = String(spec[spec.index(after: colon)...])
        }
        var uid: Int64 = 0, gid: Int64 = 0, home = "/"
        var userName: String?
        if userPart.isEmpty {
            if let root = passwd.first(where: { $0.uid == 0 }) {
                gid = root.gid; home = root.home; userName = root.name
            }
        } else if let number = try numericID(userPart) {
            uid = number
            if let entry = passwd.first(where: { $0.uid == number }) {
                gid = entry.gid; home = entry.home; userName = entry.name
            }
        } else {
            guard let entry = passwd.first(where: { $0.name == userPart }) else {
                throw EngineError(.invalidArgument, "unable to find user \(userPart): no matching entries in passwd file")
            }
            uid = entry.uid; gid = entry.gid; home = entry.home; userName = entry.name
        }
        var supplementary: [Int64] = []
        if let groupPart, !groupPart.isEmpty {
            if let number = try numericID(groupPart) {
                gid = number
            } else {
                guard let entry = groups.first(where: { $0.name == groupPart }) else {
                    throw EngineError(.invalidArgument, "unable to find group \(groupPart): no matching entries in group file")
                }
                gid = entry.gid
            }
        } else if let userName {
            supplementary = groups.filter { $0.members.contains(userName) }.map(\.gid)
        }
        for extra in groupAdd {
            if let number = try numericID(extra) {
                supplementary.append(number)
            } else {
                guard let entry = groups.first(where: { $0.name == extra }) else {
                    throw EngineError(.invalidArgument, "Unable to find group \(extra): no matching entries in group file")
                }
                supplementary.append(entry.gid)
            }
        }
        // Ids from the image's own files are checked here too: `USER app` with app's uid
        // 4294967295 in /etc/passwd must not run as root either.
        for id in [uid, gid] + supplementary where !(0...maximumID).contains(id) {
            throw EngineError(.invalidArgument, rangeMessage)
        }
        var additional: [UInt32] = []
        for id in [gid] + supplementary where !additional.contains(UInt32(id)) { additional.append(UInt32(id)) }
        return ImageUser(uid: UInt32(uid), gid: UInt32(gid), additionalGids: additional, home: home)
    }

    /// A user or group written as a number (runc reads it with Atoi, so `-1` is a number, and
    /// one out of range); nil for a name.
    static func numericID(_ text: String) throws -> Int64? {
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        guard let value = Int64(text), (0...maximumID).contains(value) else {
            throw EngineError(.invalidArgument, rangeMessage)
        }
        return value
    }

    struct PasswdEntry: Equatable { var name: String; var uid: Int64; var gid: Int64; var home: String }
    struct GroupEntry: Equatable { var name: String; var gid: Int64; var members: [String] }

    static func parsePasswd(_ text: String) -> [PasswdEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, !line.hasPrefix("#"), let uid = Int64(f[2]), let gid = Int64(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: f.count > 5 && !f[5].isEmpty ? String(f[5]) : "/")
        }
    }

    static func parseGroup(_ text: String) -> [GroupEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, !line.hasPrefix("#"), let gid = Int64(f[2]) else { return nil }
            let members = f.count > 3 ? f[3].split(separator: ",").map { String($0).trimmingBlanksForContainerSpec } : []
            return GroupEntry(name: String(f[0]), gid: gid, members: members)
        }
    }

    /// The text of `path` (relative, no leading `/`) as the stacked layers show it; nil when
    /// absent, hidden, or not a regular file.
    static func readLayered(_ path: String, layers: [String]) -> String? {
        let components = path.split(separator: "/").map(String.init)
        for layer in layers {
            var current = layer
            var hidden = false
            for (i, component) in components.enumerated() {
                current += "/" + component
                var info = stat()
                if lstat(current, &info) != 0 {
                    // Absent here: look below, unless a directory on the way is opaque in this layer.
                    break
                }
                let type = info.st_mode & S_IFMT
                if type == S_IFCHR && info.st_rdev == 0 { hidden = true; break }   // whiteout
                if i == components.count - 1 {
                    guard type == S_IFREG, let bytes = try? FileSystem.readFile(current, limit: 4 << 20) else { return nil }
                    return String(decoding: bytes, as: UTF8.self)
                }
                if type != S_IFDIR { hidden = true; break }
                if isOpaque(current) {
                    // Nothing below this directory shows: the answer is in this layer or nowhere.
                    let rest = components[(i + 1)...].joined(separator: "/")
                    return readLayered(rest, layers: [current])
                }
            }
            if hidden { return nil }
        }
        return nil
    }

    static func isOpaque(_ directory: String) -> Bool {
        for name in ["user.overlay.opaque", "trusted.overlay.opaque"] {
            var value: UInt8 = 0
            if skiff_lgetxattr(directory, name, &value, 1) == 1 && value == UInt8(ascii: "y") { return true }
        }
        return false
    }
}

extension String {
    var trimmingBlanksForContainerSpec: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s.removeLast() }
        return String(s)
    }
}

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

    /// `layers`: the layer `diff` directories, top first. `groupAdd`: HostConfig.GroupAdd.
    static func resolve(_ spec: String, layers: [String], groupAdd: [String] = []) throws -> ImageUser {
        let passwd = readLayered("etc/passwd", layers: layers).map(parsePasswd) ?? []
        let groups = readLayered("etc/group", layers: layers).map(parseGroup) ?? []
        var userPart = spec, groupPart: String?
        if let colon = spec.firstIndex(of: ":") {
            userPart = String(spec[..<colon])
            groupPart = String(spec[spec.index(after: colon)...])
        }
        var result = ImageUser(uid: 0, gid: 0, additionalGids: [], home: "/")
        var userName: String?
        if userPart.isEmpty {
            if let root = passwd.first(where: { $0.uid == 0 }) {
                result.gid = root.gid; result.home = root.home; userName = root.name
            }
        } else if let uid = UInt32(userPart) {
            result.uid = uid
            if let entry = passwd.first(where: { $0.uid == uid }) {
                result.gid = entry.gid; result.home = entry.home; userName = entry.name
            }
        } else {
            guard let entry = passwd.first(where: { $0.name == userPart }) else {
                throw EngineError(.invalidArgument, "unable to find user \(userPart): no matching entries in passwd file")
            }
            result.uid = entry.uid; result.gid = entry.gid; result.home = entry.home; userName = entry.name
        }
        if let groupPart, !groupPart.isEmpty {
            if let gid = UInt32(groupPart) {
                result.gid = gid
            } else {
                guard let entry = groups.first(where: { $0.name == groupPart }) else {
                    throw EngineError(.invalidArgument, "unable to find group \(groupPart): no matching entries in group file")
                }
                result.gid = entry.gid
            }
        } else if let userName {
            result.additionalGids = groups.filter { $0.members.contains(userName) && $0.gid != result.gid }.map(\.gid)
        }
        for extra in groupAdd {
            let gid: UInt32
            if let number = UInt32(extra) {
                gid = number
            } else {
                guard let entry = groups.first(where: { $0.name == extra }) else {
                    throw EngineError(.invalidArgument, "Unable to find group \(extra): no matching entries in group file")
                }
                gid = entry.gid
            }
            if !result.additionalGids.contains(gid) { result.additionalGids.append(gid) }
        }
        return result
    }

    struct PasswdEntry: Equatable { var name: String; var uid: UInt32; var gid: UInt32; var home: String }
    struct GroupEntry: Equatable { var name: String; var gid: UInt32; var members: [String] }

    static func parsePasswd(_ text: String) -> [PasswdEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, !line.hasPrefix("#"), let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: f.count > 5 && !f[5].isEmpty ? String(f[5]) : "/")
        }
    }

    static func parseGroup(_ text: String) -> [GroupEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, !line.hasPrefix("#"), let gid = UInt32(f[2]) else { return nil }
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

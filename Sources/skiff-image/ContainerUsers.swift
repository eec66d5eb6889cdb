import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `copyUIDGID`: the container's `User` (`name|uid[:group|gid]`) as ids, looked up in the
/// container's own /etc/passwd and /etc/group (read through `ScopedRoot`, never the host's:
/// moby 20.10 looks names up on the host).
struct ContainerUsers {
    let root: ScopedRoot

    func resolve(_ user: String) throws -> (uid: Int, gid: Int) {
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let passwd = read("/etc/passwd")
        var uid: Int
        var gid = 0
        if let number = Int(parts[0]), number >= 0 {
            uid = number
            if let entry = passwd.first(where: { $0.count > 3 && Int($0[2]) == number }), let primary = Int(entry[3]) { gid = primary }
        } else {
            guard let entry = passwd.first(where: { $0.count > 3 && $0[0] == parts[0] }), let id = Int(entry[2]), let primary = Int(entry[3]) else {
                throw WorkerFailure(.invalidArgument, "unable to find user \(parts[0]): no matching entries in passwd file")
            }
            uid = id
            gid = primary
        }
        if parts.count == 2 {
            if let number = Int(parts[1]), number >= 0 {
                gid = number
            } else {
                guard let entry = read("/etc/group").first(where: { $0.count > 2 && $0[0] == parts[1] }), let id = Int(entry[2]) else {
                    throw WorkerFailure(.invalidArgument, "unable to find group \(parts[1]): no matching entries in group file")
                }
                gid = id
            }
        }
        return (uid, gid)
    }

    /// The colon-separated lines of a file in the container (none when it cannot be read).
    private func read(_ path: String) -> [[String]] {
        guard let location = try? root.resolve(path, followLast: true), let fd = try? location.open(O_RDONLY) else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count < 4 << 20 {
            let n = chunk.withUnsafeMutableBytes { raw in Syscall.retrying { Glibc.read(fd, raw.baseAddress, raw.count) } }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// This program's file, and the programs installed beside it (`skiff-runtime`, `skiff-image`,
/// `skiff-monitor`, `skiff-relay`).
public enum SelfExecutable {
    /// `/proc/self/exe`; nil when unreadable. An upgrade that replaced the file leaves
    /// ` (deleted)` on the link: the path is where the new one is.
    public static var path: String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let deleted = " (deleted)"
        return path.hasSuffix(deleted) ? String(path.dropLast(deleted.count)) : path
    }

    /// `name` in this program's directory (`name` alone when the directory is unknown).
    public static func beside(_ name: String) -> String {
        guard let path, let slash = path.lastIndex(of: "/") else { return name }
        return String(path[...slash]) + name
    }
}

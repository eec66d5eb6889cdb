#if canImport(Glibc)
import Glibc
#endif

/// OCI mount `options` turned into mount(2) flags, propagation and file-system data, as
/// mount(8) reads them.
public struct MountOptions: Sendable, Equatable {
    public var flags: UInt = 0
    public var propagation: UInt = 0
    public var isBind = false
    public var isRecursive = false
    /// Options passed to the file system (`mode=755`, `size=65536k`, ...).
    public var data: [String] = []

    // Values from <sys/mount.h>; Swift imports the enum, spelled here once.
    static let rdonly: UInt = 1, nosuid: UInt = 2, nodev: UInt = 4, noexec: UInt = 8
    static let synchronous: UInt = 16, remount: UInt = 32, mandlock: UInt = 64, dirsync: UInt = 128
    static let nosymfollow: UInt = 256, noatime: UInt = 1024, nodiratime: UInt = 2048
    static let bind: UInt = 4096, rec: UInt = 16384, silent: UInt = 32768
    static let unbindable: UInt = 1 << 17, `private`: UInt = 1 << 18, slave: UInt = 1 << 19, shared: UInt = 1 << 20
    static let relatime: UInt = 1 << 21, strictatime: UInt = 1 << 24, lazytime: UInt = 1 << 25

    /// Options that set a flag, and the ones that clear it again (`ro` / `rw`).
    static let setting: [String: UInt] = [
        "ro": rdonly, "nosuid": nosuid, "nodev": nodev, "noexec": noexec, "sync": synchronous,
        "dirsync": dirsync, "mand": mandlock, "noatime": noatime, "nodiratime": nodiratime,
        "relatime": relatime, "strictatime": strictatime, "lazytime": lazytime,
        "nosymfollow": nosymfollow, "silent": silent,
    ]
    static let clearing: [String: UInt] = [
        "rw": rdonly, "suid": nosuid, "dev": nodev, "exec": noexec, "async": synchronous,
        "nomand": mandlock, "atime": noatime, "diratime": nodiratime, "norelatime": relatime,
        "nostrictatime": strictatime,
    ]
    static let propagations: [String: UInt] = [
        "private": `private`, "rprivate": `private` | rec, "slave": slave, "rslave": slave | rec,
        "shared": shared, "rshared": shared | rec, "unbindable": unbindable, "runbindable": unbindable | rec,
    ]
    /// Engine-level options: the engine acts on them before the runtime sees the mount.
    static let engineOptions: Set<String> = [
        "defaults", "", "tmpcopyup", "copy", "nocopy", "notmpcopyup", "idmap", "ridmap", "U", "z", "Z",
    ]

    public init(_ options: [String]) throws {
        for option in options {
            if let flag = Self.setting[option] {
                flags |= flag
            } else if let flag = Self.clearing[option] {
                flags &= ~flag
            } else if let value = Self.propagations[option] {
                propagation = value
            } else if option == "bind" || option == "rbind" {
                isBind = true
                isRecursive = isRecursive || option == "rbind"
            } else if !Self.engineOptions.contains(option) {
                // The kernel copies at most a page of mount data (an overlay's lowerdir= lists every layer).
                guard !option.contains(","), option.utf8.count < 4096 else {
                    throw RuntimeError(.invalidArgument, "invalid mount option \"\(option)\"")
                }
                data.append(option)
            }
        }
    }

    /// Propagation as the C side wants it, from OCI `rootfsPropagation`.
    public static func propagation(_ name: String?) throws -> UInt {
        guard let name, !name.isEmpty else { return 0 }
        let parsed = try MountOptions([name])
        guard parsed.propagation != 0 else {
            throw RuntimeError(.invalidArgument, "invalid rootfsPropagation \"\(name)\"")
        }
        return parsed.propagation
    }
}

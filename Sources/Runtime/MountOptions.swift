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

    public init(_ options: [String]) throws {
        for option in options {
            switch option {
            case "ro": flags |= Self.rdonly
            case "rw": flags &= ~Self.rdonly
            case "nosuid": flags |= Self.nosuid
            case "suid": flags &= ~Self.nosuid
            case "nodev": flags |= Self.nodev
            case "dev": flags &= ~Self.nodev
            case "noexec": flags |= Self.noexec
            case "exec": flags &= ~Self.noexec
            case "sync": flags |= Self.synchronous
            case "async": flags &= ~Self.synchronous
            case "dirsync": flags |= Self.dirsync
            case "mand": flags |= Self.mandlock
            case "nomand": flags &= ~Self.mandlock
            case "noatime": flags |= Self.noatime
            case "atime": flags &= ~Self.noatime
            case "nodiratime": flags |= Self.nodiratime
            case "diratime": flags &= ~Self.nodiratime
            case "relatime": flags |= Self.relatime
            case "norelatime": flags &= ~Self.relatime
            case "strictatime": flags |= Self.strictatime
            case "nostrictatime": flags &= ~Self.strictatime
            case "lazytime": flags |= Self.lazytime
            case "nosymfollow": flags |= Self.nosymfollow
            case "silent": flags |= Self.silent
            case "bind": isBind = true
            case "rbind": isBind = true; isRecursive = true
            case "private": propagation = Self.private
            case "rprivate": propagation = Self.private | Self.rec
            case "slave": propagation = Self.slave
            case "rslave": propagation = Self.slave | Self.rec
            case "shared": propagation = Self.shared
            case "rshared": propagation = Self.shared | Self.rec
            case "unbindable": propagation = Self.unbindable
            case "runbindable": propagation = Self.unbindable | Self.rec
            case "defaults", "": break
            case "tmpcopyup", "copy", "nocopy", "notmpcopyup", "idmap", "ridmap", "U", "z", "Z":
                // Engine-level options: the engine acts on them before the runtime sees the mount.
                break
            default:
                guard !option.contains(","), option.utf8.count < 256 else {
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

import Platform
#if canImport(Glibc)
import Glibc
#endif

/// The bytes a volume's data takes, as moby's `directory.Size` counts them: the sizes of
/// everything but directories, each inode once (hard links), without following symlinks or
/// leaving the volume. A directory the service may not read (a rootless container's other
/// users' files) is counted as far as it can be read.
enum VolumeUsage {
    static func size(of path: String) -> Int64 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        var seen: Set<UInt64> = []
        var device = stat()
        guard fstat(fd, &device) == 0 else { close(fd); return 0 }
        return walk(fd, device: device.st_dev, seen: &seen, depth: 0)
    }

    /// Sums the entries of the open directory `fd` (closed here).
    private static func walk(_ fd: Int32, device: UInt, seen: inout Set<UInt64>, depth: Int) -> Int64 {
        guard let dir = fdopendir(fd) else { close(fd); return 0 }
        defer { closedir(dir) }
        var total: Int64 = 0
        while let entry = readdir(dir) {
            let name = String(fixedCString: entry.pointee.d_name)
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                guard info.st_dev == device, depth < 4096 else { continue }
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { total += walk(child, device: device, seen: &seen, depth: depth + 1) }
                continue
            }
            guard info.st_size > 0 else { continue }
            if info.st_nlink > 1 {
                guard seen.insert(UInt64(info.st_ino)).inserted else { continue }
            }
            total += Int64(info.st_size)
        }
        return total
    }
}

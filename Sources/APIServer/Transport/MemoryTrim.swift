import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Gives back memory an idle service does not use.
///
/// Start-up (argument parsing, configuration, the bootstrap) and each burst of requests touch
/// code that then stays mapped: the kernel maps 16 pages around every page fault in a file
/// mapping, so a few hundred faults spread over a 30 MB executable leave megabytes mapped.
/// When the service has been idle for a second (`IdleTimer.trimDelay`), the read-only file
/// mappings (the executable and shared libraries) are dropped with `MADV_DONTNEED` and freed
/// heap is returned with `malloc_trim`. The pages stay in the page cache; the next request
/// faults back only what it runs (minor faults, about 0.1 ms in all). Mappings holding any
/// anonymous (copy-on-write) page are never touched: dropping those would lose data
/// (relocated RELRO pages, for one).
enum MemoryTrim {
    static func releaseIdlePages() {
        defer { _ = skiff_malloc_trim() }
        guard let smaps = try? FileText.read("/proc/self/smaps", limit: 16 << 20) else { return }
        var candidate: (start: UInt, end: UInt)?
        var dirty = false
        func flush() {
            if let range = candidate, !dirty {
                madvise(UnsafeMutableRawPointer(bitPattern: range.start), Int(range.end - range.start), MADV_DONTNEED)
            }
            candidate = nil
            dirty = false
        }
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                flush()
                // "start-end perms offset dev inode path"
                let bounds = first.split(separator: "-")
                let perms = fields[1]
                // File-backed (a path, not [heap] or [stack]) and never writable.
                guard fields.count >= 6, fields[5].hasPrefix("/"), fields[4] != "0",
                      !perms.contains("w"), bounds.count == 2,
                      let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { continue }
                candidate = (start, end)
            } else if candidate != nil, fields.count >= 2, first == "Anonymous:" {
                // Copy-on-write copies are anonymous pages; "dirty" alone can mean a page cache
                // page not yet written back (a freshly built binary), which is safe to drop.
                if fields[1] != "0" { dirty = true }
            }
        }
        flush()
    }
}

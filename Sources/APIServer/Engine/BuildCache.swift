import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The classic builder's cache: a step's key (its parent image, its instruction as recorded in
/// the history, the config before it and, for COPY and ADD, the checksum of the files it adds)
/// names the image the step made, in one small file per key under `<root>/build-cache`
/// (written atomically). A hit is used only while its image exists; `POST /build/prune`
/// empties the directory.
struct BuildCache {
    let directory: String

    func lookup(_ key: String) -> String? {
        guard let bytes = try? FileSystem.readFile(directory + "/" + key, limit: 256) else { return nil }
        let id = String(decoding: bytes, as: UTF8.self)
        return id.hasPrefix("sha256:") && id.count == 71 ? id : nil
    }

    func record(_ key: String, _ id: String) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { return }
        try? FileSystem.writeAtomically(directory + "/" + key, Array(id.utf8))
    }

    /// Removes every entry; their keys.
    func prune() -> [String] {
        let names = FileSystem.directoryEntries(directory) ?? []
        return names.filter { unlink(directory + "/" + $0) == 0 }
    }
}

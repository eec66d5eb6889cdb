import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The unpacked layers: `<root>/layers/<chain hex>/diff`, one directory per chain id, shared by
/// every image whose stack has it, in overlay form (whiteouts kept as overlay whiteouts, so a
/// container's rootfs is the stack of these directories).
///
/// Unpacking and sweeping take `<root>/layers/.lock` (flock), so two workers never unpack the
/// same layer, and a sweep never removes a directory being written. Holding that lock, a row
/// still marked `unpacking` belongs to a worker that died: it is abandoned and its directory
/// removed before the layer is unpacked again.
public struct LayerStore: Sendable {
    public let root: String
    public let options: LayerApplier.Options

    public init(root: String, options: LayerApplier.Options) {
        self.root = root
        self.options = options
    }

    /// Options for this process: rootless (inside the user namespace, or without one) keeps the
    /// opaque marker in `user.overlay.opaque` (overlayfs' `userxattr`); root in `trusted.`.
    public static func options(rootless: Bool, tolerateEPERM: Bool) -> LayerApplier.Options {
        LayerApplier.Options(mode: .overlayDiff(opaqueXattr: rootless ? "user.overlay.opaque" : "trusted.overlay.opaque"),
                             tolerateEPERM: tolerateEPERM)
    }

    public var directory: String { root + "/layers" }

    public func path(of chainID: Digest) -> String { directory + "/" + chainID.encoded }

    public func diffPath(of chainID: Digest) -> String { path(of: chainID) + "/diff" }

    /// The chain ids of a stack of diff ids (OCI image-spec): the first is the diff id itself,
    /// each next one sha256("<parent chain id> <diff id>").
    public static func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
        var result: [Digest] = []
        for diffID in diffIDs {
            if let parent = result.last {
                result.append(Digest.sha256(of: Array("\(parent) \(diffID)".utf8)))
            } else {
                result.append(diffID)
            }
        }
        return result
    }

    public enum Outcome: Sendable, Equatable {
        /// The layer was there already.
        case existed
        /// It was unpacked now: its size in bytes and what the applier did.
        case unpacked(size: Int64, summary: LayerApplier.Summary)
    }

    /// Makes sure layer `chainID` (the tar `diffID` on top of `parent`) is ready. When it is
    /// not, `open` gives the uncompressed tar; it is unpacked, and must hash to `diffID`. On any
    /// failure the row and the directory are gone again.
    public func ensure(chainID: Digest, diffID: Digest, parent: Digest?, store: Store,
                       open: () throws -> any ByteSource) throws -> Outcome {
        try withLock {
            if let row = try store.layer(chainID: chainID.description) {
                if row.state == .ready, directoryExists(path(of: chainID)) { return .existed }
                // Unpacking with the lock free: its worker died. Ready without a directory:
                // damaged. Either way, start again.
                if row.state == .ready { try store.removeLayer(chainID: chainID.description) }
                else { try store.abandonLayer(chainID: chainID.description) }
            }
            FileSystem.removeTree(path(of: chainID))
            try store.beginLayer(chainID: chainID.description, diffID: diffID.description,
                                 parent: parent?.description)
            do {
                try FileSystem.makeDirectories(diffPath(of: chainID), mode: 0o755)
                let hashing = HashingSource(try open())
                let summary = try LayerApplier(root: diffPath(of: chainID), options: options)
                    .apply(TarReader(source: hashing))
                let actual = try hashing.finish()
                guard actual == diffID else {
                    throw ImageError(.corrupt, "layer \(diffID): the uncompressed layer hashes to \(actual)")
                }
                try store.finishLayer(chainID: chainID.description, size: Int64(summary.bytes))
                return .unpacked(size: Int64(summary.bytes), summary: summary)
            } catch {
                FileSystem.removeTree(path(of: chainID))
                try? store.abandonLayer(chainID: chainID.description)
                throw error
            }
        }
    }

    /// Removes directories no layer row names (released by an image delete, or left by a
    /// crash), and rows stuck `unpacking` by a dead worker. Returns how many it removed.
    @discardableResult
    public func sweep(store: Store) throws -> Int {
        try withLock {
            var removed = 0
            for name in FileSystem.directoryEntries(directory) ?? [] where name != ".lock" {
                guard let chainID = try? Digest(parsing: "sha256:" + name) else {
                    FileSystem.removeTree(directory + "/" + name)
                    removed += 1
                    continue
                }
                let row = try store.layer(chainID: chainID.description)
                if row?.state == .unpacking {
                    try store.abandonLayer(chainID: chainID.description)
                } else if row != nil {
                    continue
                }
                FileSystem.removeTree(directory + "/" + name)
                removed += 1
            }
            return removed
        }
    }

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        do {
            try FileSystem.makeDirectories(directory, mode: 0o700)
        } catch {
            throw ImageError(.io, "layers: \(error)")
        }
        let fd = Glibc.open(directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ImageError(.io, "layers: open \(directory)/.lock: \(BlobStore.text(errno))") }
        defer { close(fd) }
        guard Syscall.retrying({ flock(fd, LOCK_EX) }) == 0 else {
            throw ImageError(.io, "layers: lock: \(BlobStore.text(errno))")
        }
        return try body()
    }

    private func directoryExists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

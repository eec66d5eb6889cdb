import Glibc
import Platform

/// What `docker load` finds in an archive: the images it describes, their blobs already in the
/// `BlobStore`.
public struct ArchiveImage: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public var digest: Digest
        /// Detected from the blob's first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`).
        public var compression: MediaType.Compression

        public init(digest: Digest, compression: MediaType.Compression) {
            self.digest = digest
            self.compression = compression
        }

        public var isCompressed: Bool { compression != .none }
    }

    public var config: Digest
    /// Layer blobs, base layer first.
    public var layers: [Layer]
    /// As the archive names them (`busybox:latest`, `docker.io/library/busybox:latest`).
    public var repoTags: [String]
    /// The OCI manifest blob, for an image described by an OCI layout's index.
    public var manifest: Digest?

    public init(config: Digest, layers: [Layer], repoTags: [String], manifest: Digest? = nil) {
        self.config = config
        self.layers = layers
        self.repoTags = repoTags
        self.manifest = manifest
    }
}

/// Reads and writes image archives: the tarball `docker save` writes (docker-archive:
/// `manifest.json`, configs, layers; Docker 25+ adds an OCI layout) and OCI image layouts (as
/// skopeo writes: `oci-layout`, `index.json`, `blobs/sha256/*`).
///
/// Loading streams the tar once. Every regular file is ingested into the `BlobStore` while it is
/// hashed (a file under `blobs/sha256/<hex>` must hash to its name); the small JSON files
/// (`manifest.json`, `index.json`, `oci-layout`, `<id>.json`) are kept in memory, at most
/// `jsonLimit` bytes each. Then `manifest.json` (preferred, as Docker does) or `index.json`
/// describes the images. Any refusal removes every blob this load created; blobs that were
/// already in the store stay.
public enum ImageArchive {
    /// The largest JSON file accepted: 4 MiB.
    public static let jsonLimit = 4 << 20

    /// Loads an archive into `store` and describes its images.
    public static func load(from source: any ByteSource, into store: BlobStore) throws(ImageError) -> [ArchiveImage] {
        var loader = Loader(store: store)
        do {
            try loader.read(source)
            let images = try loader.describe()
            try loader.removeUnreferenced(images)
            return images
        } catch {
            loader.removeCreated()
            throw error
        }
    }

    /// A path as archives write it (`./a//b` is `a/b`), or a refusal for one that could escape.
    static func cleanPath(_ raw: String) throws(ImageError) -> String {
        guard !raw.hasPrefix("/") else {
            throw ImageError(.invalidArgument, "archive entry \"\(raw)\" has an absolute path")
        }
        var parts: [Substring] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            guard part != ".." else {
                throw ImageError(.invalidArgument, "archive entry \"\(raw)\" escapes the archive (\"..\")")
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// The small JSON files kept in memory: the layout files, and configs at the top level.
    static func isJSONFile(_ path: String) -> Bool {
        path == "manifest.json" || path == "index.json" || path == "oci-layout"
            || (path.hasSuffix(".json") && !path.contains("/"))
    }
}

/// One load: what was read, and which blobs it created.
struct Loader {
    let store: BlobStore
    /// Blob files by their path in the archive.
    var blobs: [String: Digest] = [:]
    /// The first bytes of each blob, for compression detection.
    var magic: [Digest: [UInt8]] = [:]
    var json: [String: [UInt8]] = [:]
    /// Symlinks inside the archive (old `docker save` links repeated layers), already resolved.
    var links: [String: String] = [:]
    /// Blobs this load created, which a failure removes.
    var created: [Digest] = []
    /// Index blobs an OCI layout's images were found through.
    var usedIndexes = Set<Digest>()

    init(store: BlobStore) {
        self.store = store
    }

    mutating func read(_ source: any ByteSource) throws(ImageError) {
        let reader = TarReader(source: source)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while let entry = try reader.next() {
            let path = try ImageArchive.cleanPath(entry.path)
            switch entry.kind {
            case .directory:
                continue
            case .symlink:
                let directory = path.split(separator: "/").dropLast().joined(separator: "/")
                let target = entry.linkTarget.hasPrefix("/") ? entry.linkTarget
                    : (directory.isEmpty ? "" : directory + "/") + entry.linkTarget
                links[path] = try Loader.resolve(target, entry: entry.path)
                continue
            case .regular:
                break
            default:
                throw ImageError(.invalidArgument, "archive entry \"\(entry.path)\" is not a regular file, directory or symlink")
            }
            if ImageArchive.isJSONFile(path) {
                guard json[path] == nil else {
                    throw ImageError(.invalidArgument, "archive entry \"\(entry.path)\" appears twice")
                }
                guard entry.size <= ImageArchive.jsonLimit else {
                    throw ImageError(.invalidArgument,
                                     "archive entry \"\(entry.path)\" is \(entry.size) bytes, larger than the limit of \(ImageArchive.jsonLimit) bytes")
                }
                var bytes: [UInt8] = []
                bytes.reserveCapacity(entry.size)
                while true {
                    let n = try reader.read(into: buffer)
                    if n == 0 { break }
                    bytes += UnsafeRawBufferPointer(rebasing: buffer[..<n])
                }
                json[path] = bytes
                continue
            }
            let name = path.split(separator: "/").last.map(String.init) ?? path
            if name == "VERSION" || name == "json" || path == "repositories" { continue }  // legacy v1 metadata
            var expected: Digest?
            if path.hasPrefix("blobs/sha256/") {
                do {
                    expected = try Digest(parsing: "sha256:" + path.dropFirst("blobs/sha256/".count))
                } catch {
                    throw ImageError(.invalidArgument, "archive entry \"\(entry.path)\" is not named by a sha256 digest")
                }
            }
            guard blobs[path] == nil else {
                throw ImageError(.invalidArgument, "archive entry \"\(entry.path)\" appears twice")
            }
            let (digest, head) = try ingest(reader, size: entry.size, expected: expected, entry: entry.path, buffer: buffer)
            blobs[path] = digest
            if magic[digest] == nil { magic[digest] = head }
        }
    }

    /// Streams the current entry into a new blob; records it as created when this load put it there.
    mutating func ingest(_ reader: TarReader, size: Int, expected: Digest?, entry: String,
                         buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> (Digest, [UInt8]) {
        let writer = try store.writer(limit: Int64(size))
        var head: [UInt8] = []
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            if head.count < 4 { head += chunk.prefix(4 - head.count) }
            try writer.write(chunk)
        }
        // The partial file's inode is the blob's after the rename only if this commit moved it there.
        var partial = stat()
        let hasPartial = lstat(writer.temporaryPath, &partial) == 0
        let digest: Digest
        do {
            digest = try writer.commit(expected: expected, expectedSize: Int64(size))
        } catch where error.code == .invalidArgument && expected != nil {
            throw ImageError(.invalidArgument, "archive entry \"\(entry)\" does not match its digest: \(error.message)")
        }
        var final = stat()
        if hasPartial, lstat(store.path(of: digest), &final) == 0, final.st_ino == partial.st_ino, final.st_dev == partial.st_dev,
           !created.contains(digest) {
            created.append(digest)
        }
        return (digest, head)
    }

    /// Cleans a symlink's target inside the archive, refusing one that leaves it.
    static func resolve(_ target: String, entry: String) throws(ImageError) -> String {
        guard !target.hasPrefix("/") else {
            throw ImageError(.invalidArgument, "archive entry \"\(entry)\" links outside the archive")
        }
        var parts: [Substring] = []
        for part in target.split(separator: "/") where part != "." {
            if part == ".." {
                guard !parts.isEmpty else {
                    throw ImageError(.invalidArgument, "archive entry \"\(entry)\" links outside the archive")
                }
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }

    /// The blob an archive path names (following archive symlinks), or a refusal naming the file.
    func blob(_ raw: String, named source: String) throws(ImageError) -> Digest {
        var path = (try? ImageArchive.cleanPath(raw)) ?? raw
        var hops = 0
        while let next = links[path], hops < 16 {
            path = next
            hops += 1
        }
        guard let digest = blobs[path] else {
            throw ImageError(.invalidArgument, "\(source) names \"\(raw)\", which is not in the archive")
        }
        return digest
    }

    func layer(_ digest: Digest) -> ArchiveImage.Layer {
        ArchiveImage.Layer(digest: digest, compression: LayerStream.sniff(magic[digest] ?? []))
    }

    mutating func describe() throws(ImageError) -> [ArchiveImage] {
        if let manifest = json["manifest.json"] {
            return try describeDockerArchive(manifest)
        }
        if json["index.json"] != nil {
            return try describeOCILayout()
        }
        throw ImageError(.invalidArgument, "archive has neither manifest.json nor index.json: it is not an image archive")
    }

    mutating func describeDockerArchive(_ bytes: [UInt8]) throws(ImageError) -> [ArchiveImage] {
        let file = FieldReader(source: "manifest.json")
        let top: JSON
        do {
            top = try JSONParser.parse(bytes)
        } catch {
            throw file.fail("", "invalid JSON: \(error.message)")
        }
        var images: [ArchiveImage] = []
        for (i, entry) in try file.array(top, "").enumerated() {
            let path = "[\(i)]"
            let configPath = try file.string(file.required(entry, "Config", path), path + ".Config")
            let config: Digest
            let cleanConfigPath = (try? ImageArchive.cleanPath(configPath)) ?? configPath
            if let bytes = json[cleanConfigPath] {
                // Docker names the config by its digest (the image ID): a mismatch is a corrupt archive.
                let digest = Digest.sha256(of: bytes)
                if let named = try? Digest(parsing: "sha256:" + cleanConfigPath.dropLast(".json".count)), named != digest {
                    throw ImageError(.invalidArgument, "archive entry \"\(configPath)\" does not match its digest: it hashes to \(digest)")
                }
                config = try ingestConfig(bytes)
            } else {
                config = try blob(configPath, named: "manifest.json\(path).Config")
            }
            var layers: [ArchiveImage.Layer] = []
            for (j, value) in try file.array(file.required(entry, "Layers", path), path + ".Layers").enumerated() {
                let layerPath = try file.string(value, path + ".Layers[\(j)]")
                layers.append(layer(try blob(layerPath, named: "manifest.json\(path).Layers[\(j)]")))
            }
            var tags: [String] = []
            if let value = entry["RepoTags"], value != .null {
                for (j, tag) in try file.array(value, path + ".RepoTags").enumerated() {
                    tags.append(try file.string(tag, path + ".RepoTags[\(j)]"))
                }
            }
            images.append(ArchiveImage(config: config, layers: layers, repoTags: tags))
        }
        return images
    }

    /// A config kept in memory (`<id>.json`) goes into the store too.
    mutating func ingestConfig(_ bytes: [UInt8]) throws(ImageError) -> Digest {
        let digest = Digest.sha256(of: bytes)
        if store.contains(digest) { return digest }
        try store.ingest(bytes, expected: digest)
        if !created.contains(digest) { created.append(digest) }
        return digest
    }

    /// After a successful load, blobs it created that no image uses (legacy files, other
    /// platforms' blobs) are removed again.
    mutating func removeUnreferenced(_ images: [ArchiveImage]) throws(ImageError) {
        var used = Set<Digest>()
        for image in images {
            used.insert(image.config)
            if let manifest = image.manifest { used.insert(manifest) }
            for layer in image.layers { used.insert(layer.digest) }
        }
        for digest in usedIndexes { used.insert(digest) }
        for digest in created where !used.contains(digest) {
            try? store.delete(digest)
        }
        created.removeAll()
    }

    /// Removes every blob this load created (on failure).
    mutating func removeCreated() {
        for digest in created.reversed() { try? store.delete(digest) }
        created.removeAll()
    }
}

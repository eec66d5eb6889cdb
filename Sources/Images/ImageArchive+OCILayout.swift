import Glibc
import Platform

/// The annotations an OCI index names an image by.
enum LayoutAnnotation {
    static let refName = "org.opencontainers.image.ref.name"
    static let containerdName = "io.containerd.image.name"
}

extension Loader {
    /// Reads `oci-layout` and `index.json`: every manifest the index names (through nested
    /// indexes, choosing the host's platform as Docker does) becomes an image; descriptors naming
    /// the same manifest merge their names.
    mutating func describeOCILayout() throws(ImageError) -> [ArchiveImage] {
        if let layout = json["oci-layout"] {
            let file = FieldReader(source: "oci-layout")
            let version = try file.string(file.required(file.parse(layout, limit: ImageArchive.jsonLimit), "imageLayoutVersion", ""),
                                          "imageLayoutVersion")
            guard version == "1.0.0" else {
                throw file.fail("imageLayoutVersion", "unsupported version \"\(version)\"")
            }
        }
        let file = FieldReader(source: "index.json")
        let index = try file.parse(json["index.json"] ?? [], limit: ImageArchive.jsonLimit)
        var images: [ArchiveImage] = []
        for (i, descriptor) in try file.array(file.required(index, "manifests", ""), "manifests").enumerated() {
            let path = "manifests[\(i)]"
            var digest = try file.digest(file.required(descriptor, "digest", path), path + ".digest")
            var tags: [String] = []
            if let annotations = descriptor["annotations"] {
                if case .string(let name) = annotations[LayoutAnnotation.containerdName] ?? .null {
                    tags.append(name)
                } else if case .string(let name) = annotations[LayoutAnnotation.refName] ?? .null,
                          name.contains(":") || name.contains("/") {
                    tags.append(name)  // a bare tag ("latest") names no repository
                }
            }
            var source = "index.json: \(path).digest"
            var depth = 0
            var manifest: ImageManifest
            while true {
                switch try manifestBlob(digest, named: source) {
                case .image(let image):
                    manifest = image
                case .index(let nested):
                    guard depth < 4 else { throw ImageError(.invalidArgument, "blob \(digest): indexes nested too deeply") }
                    usedIndexes.insert(digest)
                    let chosen: Descriptor
                    do {
                        chosen = try nested.select(Descriptor.Platform(os: "linux", architecture: Descriptor.Platform.hostArchitecture))
                    } catch {
                        throw ImageError(.invalidArgument, "blob \(digest): \(error.message)")
                    }
                    source = "blob \(digest): the manifest for linux/\(Descriptor.Platform.hostArchitecture)"
                    digest = chosen.digest
                    depth += 1
                    continue
                }
                break
            }
            let name = "blob \(digest)"
            try requireInArchive(manifest.config.digest, named: "\(name): config.digest")
            var layers: [ArchiveImage.Layer] = []
            for (j, descriptor) in manifest.layers.enumerated() {
                try requireInArchive(descriptor.digest, named: "\(name): layers[\(j)].digest")
                layers.append(layer(descriptor.digest))
            }
            if let k = images.firstIndex(where: { $0.manifest == digest }) {
                for tag in tags where !images[k].repoTags.contains(tag) { images[k].repoTags.append(tag) }
            } else {
                images.append(ArchiveImage(config: manifest.config.digest, layers: layers, repoTags: tags, manifest: digest))
            }
        }
        return images
    }

    func requireInArchive(_ digest: Digest, named source: String) throws(ImageError) {
        guard magic[digest] != nil else {
            throw ImageError(.invalidArgument, "\(source) names \(digest), which is not in the archive")
        }
    }

    /// A manifest or index from the archive, read with `Manifest.read`; errors name the blob.
    func manifestBlob(_ digest: Digest, named source: String) throws(ImageError) -> Manifest {
        try requireInArchive(digest, named: source)
        let bytes = try store.read(digest, limit: ImageArchive.jsonLimit)
        do {
            return try Manifest.read(bytes)
        } catch {
            throw ImageError(.invalidArgument, "blob \(digest): \(error.message)")
        }
    }
}

// MARK: - docker save

/// One image to save: its config's bytes, its layer blobs as files, its names.
public struct SaveImage: Sendable {
    public struct Layer: Sendable {
        public var digest: Digest
        public var size: Int64
        /// The blob's file (`BlobStore.path(of:)`).
        public var path: String
        public var compression: MediaType.Compression

        public init(digest: Digest, size: Int64, path: String, compression: MediaType.Compression) {
            self.digest = digest
            self.size = size
            self.path = path
            self.compression = compression
        }
    }

    public var config: [UInt8]
    public var layers: [Layer]
    /// Familiar or full references with a tag (`busybox:latest`).
    public var repoTags: [String]

    public init(config: [UInt8], layers: [Layer], repoTags: [String]) {
        self.config = config
        self.layers = layers
        self.repoTags = repoTags
    }
}

extension ImageArchive {
    /// Writes what `docker save` writes since Docker 25: `blobs/sha256/<hex>` (configs, layers,
    /// one OCI manifest per image), an OCI `index.json` (one descriptor per tag, named by
    /// `io.containerd.image.name` and `org.opencontainers.image.ref.name`), `manifest.json` and
    /// `oci-layout`. Layer files are streamed and must have the size and digest given; a blob
    /// shared by several images is written once.
    public static func save(_ images: [SaveImage], to sink: any ByteSink, mtime: Int64 = 0) throws(ImageError) {
        let tar = TarWriter(sink: sink, mtime: mtime)
        try tar.directory("blobs")
        try tar.directory("blobs/sha256")
        var written = Set<Digest>()
        var index: [JSON] = []
        var manifestList: [JSON] = []
        for image in images {
            let config = Digest.sha256(of: image.config)
            if written.insert(config).inserted {
                try tar.file("blobs/sha256/" + config.encoded, image.config)
            }
            var layerDescriptors: [JSON] = []
            for layer in image.layers {
                if written.insert(layer.digest).inserted {
                    try copyBlob(layer, into: tar)
                }
                let mediaType: String
                switch layer.compression {
                case .none: mediaType = MediaType.ociLayer
                case .gzip: mediaType = MediaType.ociLayerGzip
                case .zstd: mediaType = MediaType.ociLayerZstd
                }
                layerDescriptors.append(.object([.init("mediaType", .string(mediaType)),
                                                 .init("digest", .string(layer.digest.description)),
                                                 .init("size", .int(layer.size))]))
            }
            let manifest = JSON.object([
                .init("schemaVersion", .int(2)),
                .init("mediaType", .string(MediaType.ociManifest)),
                .init("config", .object([.init("mediaType", .string(MediaType.ociConfig)),
                                         .init("digest", .string(config.description)),
                                         .init("size", .int(Int64(image.config.count)))])),
                .init("layers", .array(layerDescriptors)),
            ]).bytes
            let manifestDigest = Digest.sha256(of: manifest)
            if written.insert(manifestDigest).inserted {
                try tar.file("blobs/sha256/" + manifestDigest.encoded, manifest)
            }
            let descriptor: [JSON.Member] = [.init("mediaType", .string(MediaType.ociManifest)),
                                             .init("digest", .string(manifestDigest.description)),
                                             .init("size", .int(Int64(manifest.count)))]
            if image.repoTags.isEmpty { index.append(.object(descriptor)) }
            for tag in image.repoTags {
                let reference = try Reference(parsing: tag)
                var annotations: [JSON.Member] = [.init(LayoutAnnotation.containerdName, .string(reference.normalized))]
                if let name = reference.tag { annotations.append(.init(LayoutAnnotation.refName, .string(name))) }
                index.append(.object(descriptor + [.init("annotations", .object(annotations))]))
            }
            manifestList.append(.object([
                .init("Config", .string("blobs/sha256/" + config.encoded)),
                .init("RepoTags", image.repoTags.isEmpty ? .null : JSON(image.repoTags)),
                .init("Layers", .array(image.layers.map { .string("blobs/sha256/" + $0.digest.encoded) })),
            ]))
        }
        try tar.file("index.json", JSON.object([.init("schemaVersion", .int(2)),
                                                .init("mediaType", .string(MediaType.ociIndex)),
                                                .init("manifests", .array(index))]).bytes)
        try tar.file("manifest.json", JSON.array(manifestList).bytes)
        try tar.file("oci-layout", JSON.object([.init("imageLayoutVersion", .string("1.0.0"))]).bytes)
        try tar.finish()
    }

    /// Streams one layer file into the archive, checking its size and digest on the way.
    static func copyBlob(_ layer: SaveImage.Layer, into tar: TarWriter) throws(ImageError) {
        let fd = BlobStore.openRetrying(layer.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ImageError(errno == ENOENT ? .notFound : .io, "save: open \(layer.path): \(BlobStore.text(errno))")
        }
        defer { close(fd) }
        try tar.beginFile("blobs/sha256/" + layer.digest.encoded, size: Int(layer.size))
        let source = FileByteSource(fd: fd, name: layer.path)
        var hasher = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try source.read(into: buffer)
            if n == 0 { break }
            total += Int64(n)
            guard total <= layer.size else { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            hasher.update(chunk)
            try tar.write(chunk)
        }
        guard total == layer.size else {
            throw ImageError(.corrupt, "save: layer \(layer.digest) at \(layer.path) is not \(layer.size) bytes")
        }
        let actual = hasher.finalize()
        guard actual == layer.digest else {
            throw ImageError(.corrupt, "save: layer \(layer.digest) at \(layer.path) hashes to \(actual)")
        }
    }
}

extension Descriptor.Platform {
    /// This machine's CPU as Go (and so Docker) names it.
    public static var hostArchitecture: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    /// The platform images are pulled and loaded for: linux on this CPU.
    public static var host: Descriptor.Platform { Descriptor.Platform(os: "linux", architecture: hostArchitecture) }
}

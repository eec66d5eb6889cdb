import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// What every command works with: the Store, the blob store and the layer directories under
/// `--root` (the service's `<graphroot>/skiff`).
final class Worker {
    let options: Options
    let root: String
    let store: Store
    let blobs: BlobStore
    let layers: LayerStore
    /// The most bytes one layer may expand to (`--max-layer-size`): a gzip or zstd bomb stops there.
    let layerLimit: Int

    /// Without `--max-layer-size`: 32 GiB, far above any real layer, far below a full disk.
    static let defaultLayerLimit = 32 << 30

    init(options: Options) throws {
        self.options = options
        root = try options.required("--root")
        if let text = options.value("--max-layer-size") {
            guard let limit = Int(text), limit > 0 else { throw WorkerFailure(.invalidArgument, "skiff-image: bad --max-layer-size \(text)") }
            layerLimit = limit
        } else {
            layerLimit = Worker.defaultLayerLimit
        }
        guard root.hasPrefix("/") else { throw WorkerFailure(.invalidArgument, "skiff-image: --root must be absolute") }
        store = try Store(root: root)
        blobs = BlobStore(root: root)
        let rootless = getuid() != 0 || getenv(WorkerNamespace.variable) != nil
        layers = LayerStore(root: root, options: LayerStore.options(rootless: rootless,
                                                                     tolerateEPERM: WorkerNamespace.isSingleMapping))
    }

    // MARK: - Installing an image whose blobs are in the blob store

    /// One layer of an image being installed: the blob it comes from.
    struct LayerSource {
        var digest: Digest
        var mediaType: String
        var compression: MediaType.Compression
    }

    /// Unpacks the layers an image config names from their blobs (those not there yet) and
    /// records the image with `names` and `digests`. On failure the layers this call created are
    /// removed again; layers that were there stay.
    @discardableResult
    func install(config configBytes: [UInt8], layers sources: [LayerSource], names: [String], digests: [String],
                 progress: ((Int, LayerStore.Outcome) -> Void)? = nil) throws -> ImageConfig {
        let config = try ImageConfig.read(configBytes)
        let diffIDs = config.rootfs.diffIDs
        guard diffIDs.count == sources.count else {
            throw WorkerFailure(.invalidArgument, "image config names \(diffIDs.count) layers, the manifest \(sources.count)")
        }
        let chain = LayerStore.chainIDs(diffIDs)
        var created: [Digest] = []
        do {
            var size: Int64 = 0
            var records: [LayerBlobRecord] = []
            for (i, source) in sources.enumerated() {
                let outcome = try layers.ensure(chainID: chain[i], diffID: diffIDs[i], parent: i > 0 ? chain[i - 1] : nil,
                                                store: store) {
                    try LayerStream.decompressed(FileByteSource(fd: try blobs.open(source.digest), name: "blob \(source.digest)", owns: true),
                                                 source.compression, limit: layerLimit)
                }
                if case .unpacked = outcome { created.append(chain[i]) }
                records.append(LayerBlobRecord(digest: source.digest.description, diffID: diffIDs[i].description,
                                               mediaType: source.mediaType, size: try blobs.size(of: source.digest)))
                size += try store.layer(chainID: chain[i].description)?.size ?? 0
                progress?(i, outcome)
            }
            let created = config.created.flatMap(Timestamp.parseRFC3339) ?? 0
            try store.addImage(id: Digest.sha256(of: configBytes).description, config: configBytes, size: size,
                               created: created, layers: chain.map(\.description), names: names, digests: digests)
            // The blobs are recorded once the image is in: a failure before leaves them unrecorded,
            // and the caller deletes unrecorded blobs.
            for record in records { try store.recordLayerBlob(record) }
        } catch {
            release(created)
            throw error
        }
        return config
    }

    /// Removes layers a failed install created, when nothing else came to use them, and their
    /// blob records and files.
    func release(_ created: [Digest]) {
        for chainID in created.reversed() {
            try? store.removeLayer(chainID: chainID.description)
        }
        _ = try? layers.sweep(store: store)
        deleteReleasedBlobs()
    }

    func deleteReleasedBlobs() {
        for digest in (try? store.releaseUnusedLayerBlobs()) ?? [] {
            if let parsed = try? Digest(parsing: digest) { try? blobs.delete(parsed) }
        }
    }

    /// The media type a layer blob of this compression is recorded with.
    static func layerMediaType(_ compression: MediaType.Compression) -> String {
        switch compression {
        case .none: return MediaType.ociLayer
        case .gzip: return MediaType.ociLayerGzip
        case .zstd: return MediaType.ociLayerZstd
        }
    }

    /// Standard input as a byte source, decompressed when it starts with gzip or zstd magic
    /// (`docker load` and `docker import` take compressed archives too).
    func standardInput() throws -> any ByteSource {
        var magic = [UInt8](repeating: 0, count: 4)
        let n = pread(0, &magic, 4, 0)
        let compression = LayerStream.sniff(Array(magic.prefix(max(0, n))))
        let raw = FileByteSource(fd: 0, name: "the request body")
        return compression == .none ? raw : try LayerStream.decompressed(raw, compression)
    }

    // MARK: - load

    /// `docker load`: the archive (docker-archive or OCI layout, possibly compressed) on stdin.
    func load() throws {
        let images = try ImageArchive.load(from: try standardInput(), into: blobs)
        guard !images.isEmpty else { throw WorkerFailure(.invalidArgument, "no images found in the archive") }
        var installed: [String] = []
        do {
            for image in images {
                let configBytes = try blobs.read(image.config, limit: ImageConfig.maximumSize)
                var names: [String] = []
                for tag in image.repoTags {
                    names.append(try Reference(parsing: tag).withDefaultTag.normalized)
                }
                try install(config: configBytes,
                            layers: image.layers.map { LayerSource(digest: $0.digest, mediaType: Worker.layerMediaType($0.compression),
                                                                   compression: $0.compression) },
                            names: names, digests: [])
                installed.append(image.config.description)
                let lines = names.isEmpty ? ["Loaded image ID: \(image.config)"]
                    : try names.map { "Loaded image: \(try Reference(parsing: $0).familiarString)" }
                for line in lines { Output.message(["stream": .string(line + "\n")]) }
            }
        } catch {
            removeTransientBlobs(images)
            throw error
        }
        removeTransientBlobs(images)
    }

    /// Configs and manifests live in the database once loaded; their blob files go.
    private func removeTransientBlobs(_ images: [ArchiveImage]) {
        let recorded = (try? store.recordedLayerBlobs()) ?? []
        for image in images {
            for digest in [image.config] + (image.manifest.map { [$0] } ?? []) where !recorded.contains(digest.description) {
                try? blobs.delete(digest)
            }
            for layer in image.layers where !recorded.contains(layer.digest.description) {
                try? blobs.delete(layer.digest)
            }
        }
    }

    // MARK: - import

    /// `docker import`: a rootfs tarball (possibly compressed) on stdin becomes a one-layer image.
    func importRootfs() throws {
        var container = ImageConfig.Container()
        try ImageChanges.apply(options.all("--change"), to: &container)
        let names = options.value("--tag").map { [$0] } ?? []

        // The tarball is kept as the layer's blob, as it came.
        let writer = try blobs.writer()
        let input = FileByteSource(fd: 0, name: "the request body")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        var magic: [UInt8] = []
        do {
            while true {
                let n = try input.read(into: buffer)
                if n == 0 { break }
                if magic.count < 4 { magic += buffer.prefix(min(n, 4 - magic.count)) }
                try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        } catch {
            writer.abort()
            throw error
        }
        guard writer.size > 0 else { writer.abort(); throw WorkerFailure(.invalidArgument, "the rootfs tarball is empty") }
        let blob = try writer.commit(expected: nil, expectedSize: nil)
        let compression = LayerStream.sniff(magic)
        do {
            // The diff id first (one pass through the decompressor), so the layer is unpacked
            // under its chain id.
            let hashing = HashingSource(try LayerStream.decompressed(
                FileByteSource(fd: try blobs.open(blob), name: "the rootfs tarball", owns: true), compression, limit: layerLimit))
            let diffID = try hashing.finish()
            let now = Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
            var config = ImageConfig.imported(diffID: diffID, os: "linux", architecture: Descriptor.Platform.hostArchitecture,
                                              created: now, comment: options.value("--message"))
            if container != ImageConfig.Container() { config.config = container }
            if let message = options.value("--message"), !message.isEmpty {
                config.history[0].comment = message
            }
            let bytes = config.bytes
            try install(config: bytes, layers: [LayerSource(digest: blob, mediaType: Worker.layerMediaType(compression),
                                                            compression: compression)],
                        names: names, digests: [])
            Output.message(["status": .string(config.id.description)])
        } catch {
            if (try? store.layerBlob(digest: blob.description)) == nil { try? blobs.delete(blob) }
            throw error
        }
    }

    // MARK: - sweep

    /// After an image delete or prune: layer directories and blobs nothing uses any more, and
    /// ingest files a killed worker left.
    func sweep() throws {
        try layers.sweep(store: store)
        deleteReleasedBlobs()
        _ = blobs.removeStaleIngest(olderThan: 3600)
    }
}

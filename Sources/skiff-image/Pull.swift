import Distribution
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

extension Worker {
    static let manifestTypes = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest,
                                MediaType.dockerManifest]

    /// `docker pull`: the manifest (through an index, for this platform), the config, then each
    /// layer not present yet, streamed once: hashed, kept as a blob and unpacked as it arrives.
    func pull() throws {
        let reference = try Reference(parsing: try options.required("--reference"))
        // `--name`: what the image is stored as when `--reference` is a mirror's or a location's.
        let name = try options.value("--name").map { text in try Reference(parsing: text) } ?? reference
        do {
            try pull(reference, as: name)
        } catch let error as ImageError where error.code == .invalidArgument {
            // The reference was checked above: what fails now is what the registry sent.
            throw WorkerFailure(.failed, error.message)
        } catch let error as StoreError where error.code == .invalidArgument {
            throw WorkerFailure(.failed, error.message)
        }
    }

    private func pull(_ reference: Reference, as name: Reference) throws {
        let client = try client(for: reference, push: false)
        let wanted = reference.digest ?? reference.tag ?? Reference.defaultTag
        let top = try fetchManifest(client, wanted, reference: reference)
        let manifestDigest = top.digest
        var image: ImageManifest
        switch try Manifest.read(top.bytes, contentType: top.mediaType) {
        case .image(let single):
            image = single
        case .index(let index):
            let chosen = try index.select(try platform())
            let inner = try fetchManifest(client, chosen.digest.description, reference: reference)
            guard case .image(let single) = try Manifest.read(inner.bytes, contentType: inner.mediaType) else {
                throw WorkerFailure(.failed, "manifest \(chosen.digest) for \(try platform()) is an index, not an image manifest")
            }
            image = single
        }
        for layer in image.layers where MediaType.layerCompression(layer.mediaType) == nil {
            throw WorkerFailure(.failed, "unsupported layer media type \(layer.mediaType) of \(layer.digest)")
        }

        let configBytes = try fetchSmallBlob(client, image.config.digest, size: image.config.size,
                                             limit: ImageConfig.maximumSize, what: "image config")
        let config = try ImageConfig.read(configBytes)
        guard config.rootfs.diffIDs.count == image.layers.count else {
            throw WorkerFailure(.failed, "image config has \(config.rootfs.diffIDs.count) diff_ids for \(image.layers.count) layers")
        }
        let names = name.digest == nil ? [name.withDefaultTag.normalized] : []
        let digests = [name.name + "@" + manifestDigest.description]
        let imageID = Digest.sha256(of: configBytes).description
        let existing = try store.image(byNameOrID: imageID)
        let previous = names.first.flatMap { try? store.image(byNameOrID: $0) }?.id

        Progress.status("Pulling from \(name.path)", id: name.digest ?? name.tag ?? Reference.defaultTag)
        let chain = LayerStore.chainIDs(config.rootfs.diffIDs)
        // One line per layer before any download, as Docker's download manager writes them: a
        // layer this store has is "Already exists" (an image that is already here is reported
        // in three lines only), another "Pulling fs layer".
        var present: Set<Int> = []
        for (i, layer) in image.layers.enumerated() {
            let ready = try store.layer(chainID: chain[i].description)?.state == .ready
            if ready { present.insert(i) }
            if existing == nil {
                Progress.status(ready ? "Already exists" : "Pulling fs layer", id: Progress.shortID(layer.digest))
            }
        }
        var created: [Digest] = []
        do {
            var size: Int64 = 0
            for (i, layer) in image.layers.enumerated() {
                let id = Progress.shortID(layer.digest)
                let compression = MediaType.layerCompression(layer.mediaType) ?? .gzip
                var attempt = 0
                while true {
                    attempt += 1
                    do {
                        let outcome = try fetchLayer(client, layer, compression: compression, chainID: chain[i],
                                                     diffID: config.rootfs.diffIDs[i], parent: i > 0 ? chain[i - 1] : nil)
                        if case .unpacked = outcome {
                            created.append(chain[i])
                            Progress.status("Pull complete", id: id)
                        } else if existing == nil && !present.contains(i) {
                            // Made meanwhile by another pull of the same layer.
                            Progress.status("Already exists", id: id)
                        }
                        break
                    } catch where attempt < 3 && RegistryErrors.isTransient(error) {
                        Progress.status("Retrying in \(attempt) second\(attempt == 1 ? "" : "s")", id: id)
                        sleep(UInt32(attempt))
                    }
                }
                // Only a blob this store holds is recorded (a layer already present was not fetched).
                if blobs.contains(layer.digest) {
                    try store.recordLayerBlob(LayerBlobRecord(digest: layer.digest.description,
                                                              diffID: config.rootfs.diffIDs[i].description,
                                                              mediaType: layer.mediaType, size: layer.size))
                }
                size += try store.layer(chainID: chain[i].description)?.size ?? 0
            }
            try store.addImage(id: imageID, config: configBytes, size: size,
                               created: config.created.flatMap(Timestamp.parseRFC3339) ?? 0,
                               layers: chain.map(\.description), names: names, digests: digests)
        } catch {
            release(created)
            throw error
        }
        Progress.status("Digest: \(manifestDigest)")
        let upToDate = existing != nil && (names.isEmpty || previous == imageID)
        let shown = name.digest == nil ? name.withDefaultTag.familiarString : name.familiarString
        Progress.status(upToDate ? "Status: Image is up to date for \(shown)" : "Status: Downloaded newer image for \(shown)")
    }

    /// `--platform os/arch[/variant]`, else linux on this machine's CPU.
    func platform() throws -> Descriptor.Platform {
        guard let text = options.value("--platform") else { return Descriptor.Platform.host }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw WorkerFailure(.invalidArgument, "invalid platform \"\(text)\": want os/arch[/variant]")
        }
        return Descriptor.Platform(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : "")
    }

    /// A layer: already there, or downloaded and unpacked in one pass (the blob is kept).
    private func fetchLayer(_ client: RegistryClient, _ layer: Descriptor, compression: MediaType.Compression,
                            chainID: Digest, diffID: Digest, parent: Digest?) throws -> LayerStore.Outcome {
        let id = Progress.shortID(layer.digest)
        var writer: BlobWriter?
        var reader: BlobReader?
        defer {
            writer?.abort()
            reader?.close()
        }
        let outcome: LayerStore.Outcome
        do {
            outcome = try layers.ensure(chainID: chainID, diffID: diffID, parent: parent, store: store) {
                let opened = try client.openBlob(layer.digest, expectedSize: layer.size)
                reader = opened
                let blobWriter = try blobs.writer()
                writer = blobWriter
                let tee = TeeSource(opened, into: blobWriter) { count in
                    Progress.bar("Downloading", id: id, current: count, total: layer.size)
                }
                return try LayerStream.decompressed(tee, compression, limit: layerLimit)
            }
        } catch {
            // A broken download surfaces as the reader's ImageError: report what the registry did.
            throw reader?.failure ?? error
        }
        if let blobWriter = writer {
            Progress.status("Verifying Checksum", id: id)
            _ = try blobWriter.commit(expected: layer.digest, expectedSize: layer.size)
            writer = nil
            Progress.status("Download complete", id: id)
        }
        return outcome
    }

    func fetchManifest(_ client: RegistryClient, _ wanted: String, reference: Reference) throws
        -> (bytes: [UInt8], mediaType: String, digest: Digest) {
        let result: Result<(bytes: [UInt8], mediaType: String, digest: Digest), RegistryError>
        do {
            result = .success(try client.getManifest(wanted, accept: Worker.manifestTypes, limit: Manifest.maximumSize))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let manifest):
            return manifest
        case .failure(let error):
            throw Worker.pullError(error, reference)
        }
    }

    /// moby's words for a manifest that cannot be had.
    static func pullError(_ error: RegistryError, _ reference: Reference) -> any Error {
        let denied = "pull access denied for \(reference.familiarName), repository does not exist or may require 'docker login': \(error.message)"
        switch error.code {
        case .notFound where error.registryCode == "NAME_UNKNOWN":
            return WorkerFailure(.notFound, denied)
        case .notFound:
            let shown = reference.digest == nil ? reference.withDefaultTag.familiarString : reference.familiarString
            return WorkerFailure(.notFound, "manifest for \(shown) not found: \(error.message)")
        case .unauthorized, .denied:
            // Docker answers these with 500: a 401 would make the docker CLI prompt for a login
            // it then sends to POST /auth.
            return WorkerFailure(.failed, denied)
        default:
            return error
        }
    }

    func fetchSmallBlob(_ client: RegistryClient, _ digest: Digest, size: Int64, limit: Int,
                                what: String) throws -> [UInt8] {
        guard size <= Int64(limit) else { throw WorkerFailure(.failed, "\(what) \(digest) is \(size) bytes, over the limit of \(limit)") }
        let reader = try client.openBlob(digest, expectedSize: size)
        defer { reader.close() }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var filled = 0
        var scratch = [UInt8](repeating: 0, count: 1)
        do {
            while filled < bytes.count {
                let n = try bytes.withUnsafeMutableBytes { raw in
                    try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                }
                if n == 0 { break }
                filled += n
            }
            // Reading on to the end lets the reader check the size and digest.
            _ = try scratch.withUnsafeMutableBytes { try reader.read(into: $0) }
        } catch {
            throw reader.failure ?? error
        }
        return Array(bytes[0..<filled])
    }
}

/// Passes a download through while writing it to the blob store and reporting progress.
final class TeeSource: ByteSource {
    private let source: BlobReader
    private let writer: BlobWriter
    private let progress: (Int64) -> Void
    private var count: Int64 = 0
    private var reported: Int64 = 0

    init(_ source: BlobReader, into writer: BlobWriter, progress: @escaping (Int64) -> Void) {
        self.source = source
        self.writer = writer
        self.progress = progress
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        let n = try source.read(into: buffer)
        if n > 0 {
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += Int64(n)
            if count - reported >= 512 << 10 {
                reported = count
                progress(count)
            }
        } else if count > reported {
            // The end: the last count, as Docker's progress reader writes it at EOF (a layer
            // smaller than the interval gets this one line).
            reported = count
            progress(count)
        }
        return n
    }
}

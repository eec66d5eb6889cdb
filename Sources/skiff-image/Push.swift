import Distribution
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

extension Worker {
    /// `docker push`: each layer's blob (as it was pulled, or gzip-compressed once from a plain
    /// tar that was loaded or imported, as Docker pushes them) unless the registry has it, the
    /// config, then a manifest: Docker schema2 when every layer is gzip, OCI otherwise (zstd).
    func push() throws {
        let reference = try Reference(parsing: try options.required("--reference"))
        guard reference.digest == nil else { throw WorkerFailure(.invalidArgument, "cannot push a digest reference") }
        let tag = reference.tag ?? Reference.defaultTag
        guard let image = try store.image(byNameOrID: try options.required("--image")) else {
            throw WorkerFailure(.notFound, "No such image: \(reference.familiarString)")
        }
        let config = try ImageConfig.read(image.config)
        Progress.status("The push refers to repository [\(reference.name)]")
        var blobsToPush: [LayerBlobRecord] = []
        for diffID in config.rootfs.diffIDs {
            guard let blob = try store.layerBlobs(diffID: diffID.description).first(where: {
                (try? Digest(parsing: $0.digest)).map(blobs.contains) ?? false
            }) else {
                throw WorkerFailure(.failed, "layer \(diffID) has no blob to push")
            }
            blobsToPush.append(MediaType.layerCompression(blob.mediaType) == MediaType.Compression.none ? try compressed(blob) : blob)
        }
        let client = try client(for: reference, push: true)
        for blob in blobsToPush {
            Progress.status("Preparing", id: Progress.shortID(try Digest(parsing: blob.digest)))
        }
        for blob in blobsToPush {
            let digest = try Digest(parsing: blob.digest)
            let id = Progress.shortID(digest)
            if try client.blobExists(digest) {
                Progress.status("Layer already exists", id: id)
                continue
            }
            try upload(client, digest, size: blob.size, id: id)
            Progress.status("Pushed", id: id)
        }
        let configDigest = Digest.sha256(of: image.config)
        if try !client.blobExists(configDigest) {
            var offset = 0
            let bytes = image.config
            try client.uploadBlob(configDigest, size: Int64(bytes.count), read: { buffer in
                let n = min(buffer.count, bytes.count - offset)
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.withUnsafeBytes { $0 }[offset..<(offset + n)]))
                offset += n
                return n
            }, progress: nil)
        }
        let allGzip = blobsToPush.allSatisfy { MediaType.layerCompression($0.mediaType) == .gzip }
        let manifestType = allGzip ? MediaType.dockerManifest : MediaType.ociManifest
        let layers: [JSON] = blobsToPush.map { blob in
            let type: String
            if allGzip { type = MediaType.dockerLayerGzip }
            else { type = Worker.layerMediaType(MediaType.layerCompression(blob.mediaType) ?? .none) }
            return .object([JSON.Member("mediaType", .string(type)), JSON.Member("size", .int(blob.size)),
                            JSON.Member("digest", .string(blob.digest))])
        }
        let manifest = JSON.object([
            JSON.Member("schemaVersion", .int(2)),
            JSON.Member("mediaType", .string(manifestType)),
            JSON.Member("config", .object([
                JSON.Member("mediaType", .string(allGzip ? MediaType.dockerConfig : MediaType.ociConfig)),
                JSON.Member("size", .int(Int64(image.config.count))),
                JSON.Member("digest", .string(configDigest.description)),
            ])),
            JSON.Member("layers", .array(layers)),
        ]).bytes
        let digest = try client.putManifest(manifest, mediaType: manifestType, reference: tag)
        try store.addImage(id: image.id, config: image.config, size: image.size, created: image.created,
                           layers: image.layers, names: [], digests: [reference.name + "@" + digest.description])
        Progress.status("\(tag): digest: \(digest) size: \(manifest.count)")
        Output.message(.object([JSON.Member("progressDetail", .object([])),
                                JSON.Member("aux", .object([JSON.Member("Tag", .string(tag)),
                                                            JSON.Member("Digest", .string(digest.description)),
                                                            JSON.Member("Size", .int(Int64(manifest.count)))]))]))
    }

    /// A plain-tar layer blob gzip-compressed into a new blob, recorded for the same diff id so
    /// later pushes (and the repository digest they give) reuse it.
    private func compressed(_ blob: LayerBlobRecord) throws -> LayerBlobRecord {
        let source = FileByteSource(fd: try blobs.open(try Digest(parsing: blob.digest)), name: "blob \(blob.digest)", owns: true)
        let writer = try blobs.writer()
        do {
            let gzip = try GzipSink(into: writer)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try source.read(into: buffer)
                if n == 0 { break }
                try gzip.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            try gzip.finish()
            let size = writer.size
            let digest = try writer.commit(expected: nil, expectedSize: nil)
            let record = LayerBlobRecord(digest: digest.description, diffID: blob.diffID,
                                         mediaType: MediaType.ociLayerGzip, size: size)
            try store.recordLayerBlob(record)
            return record
        } catch {
            writer.abort()
            throw error
        }
    }

    private func upload(_ client: RegistryClient, _ digest: Digest, size: Int64, id: String) throws {
        let fd = try blobs.open(digest)
        defer { close(fd) }
        var reported: Int64 = 0
        try client.uploadBlob(digest, size: size, read: { buffer in
            let n = Syscall.retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            if n < 0 { throw WorkerFailure(.failed, "read blob \(digest): \(String(cString: strerror(errno)))") }
            return n
        }, progress: { sent in
            if sent - reported >= 512 << 10 || sent == size {
                reported = sent
                Progress.bar("Pushing", id: id, current: sent, total: size)
            }
        })
    }
}

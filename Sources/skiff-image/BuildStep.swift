import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// One step of `docker build` (the classic builder in the service, `Engine+Build.swift`):
///
/// ```
/// skiff-image [--userns] build-step --root DIR [--image PARENT] [--container ID | --layer-stdin]
///             --config JSON --created-by TEXT [--comment TEXT] [--tag NAME]...
/// ```
/// The new image is the parent's (none: `FROM scratch`) with its container config replaced by
/// `--config` (an image config's `config`, the builder's state after the instruction), one more
/// history entry, and one more layer when the step made one: the upper directory of the step's
/// container (RUN, COPY and ADD into an image; the same archiving as `docker commit`) or the tar
/// on standard input (`--layer-stdin`: COPY and ADD onto `scratch`, written by the service
/// from the context). Without either the step is metadata only: an `empty_layer` history entry,
/// as the classic builder records ENV, CMD, LABEL... The image is installed as a commit's is;
/// standard output is one JSON line `{"Id": "sha256:..."}`.
enum BuildStep {
    static func run(_ worker: Worker) throws {
        let options = worker.options
        var config: ImageConfig
        var sources: [Worker.LayerSource] = []
        if let parentID = options.value("--image") {
            guard let parent = try worker.store.image(byNameOrID: parentID) else {
                throw WorkerFailure(.notFound, "No such image: \(parentID)")
            }
            config = try ImageConfig.read(parent.config)
            for diffID in config.rootfs.diffIDs {
                guard let record = try worker.store.layerBlobs(diffID: diffID.description).first else {
                    throw WorkerFailure(.failed, "image \(parentID): no blob recorded for its layer \(diffID)")
                }
                sources.append(Worker.LayerSource(digest: try Digest(parsing: record.digest), mediaType: record.mediaType,
                                                  compression: MediaType.layerCompression(record.mediaType) ?? .none))
            }
            if config.history.isEmpty && !sources.isEmpty {
                config.history = sources.map { _ in ImageConfig.History() }
            }
        } else {
            config = ImageConfig(architecture: Descriptor.Platform.hostArchitecture, os: "linux", rootfs: ImageConfig.RootFS(diffIDs: []))
        }
        let container = try ContainerCommit.config(options, "--config")
        var blob: Digest?
        if options.value("--container") != nil {
            blob = try ContainerCommit.layer(worker, options)
        } else if options.flag("--layer-stdin") {
            blob = try stdinLayer(worker)
        }
        let now = Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
        config.config = container
        config.created = now
        config.history.append(ImageConfig.History(created: now, createdBy: options.value("--created-by"),
                                                  comment: options.value("--comment"), emptyLayer: blob == nil))
        if let blob {
            config.rootfs.diffIDs.append(blob)
            sources.append(Worker.LayerSource(digest: blob, mediaType: MediaType.ociLayer, compression: .none))
        }
        do {
            try worker.install(config: config.bytes, layers: sources, names: options.all("--tag"), digests: [])
        } catch {
            if let blob, (try? worker.store.layerBlob(digest: blob.description)) == nil { try? worker.blobs.delete(blob) }
            throw error
        }
        Output.message(["Id": .string(config.id.description)])
    }

    /// Standard input (an uncompressed tar the service wrote) kept as a blob: its digest is
    /// its diff id.
    static func stdinLayer(_ worker: Worker) throws -> Digest {
        let writer = try worker.blobs.writer()
        let input = FileByteSource(fd: 0, name: "the step's layer")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = try input.read(into: buffer)
                if n == 0 { break }
                try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
            return try writer.commit(expected: nil, expectedSize: nil)
        } catch {
            writer.abort()
            throw error
        }
    }
}

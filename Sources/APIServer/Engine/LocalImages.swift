import Images
import Store

/// The images in the Store as the engine finds them: by id, reference or id prefix, with
/// their configs; and the sweep of released layers.
enum LocalImages {
    /// The local image `input` names (full id, reference, or unique id prefix), as moby
    /// resolves it; `notFound` "No such image" otherwise. `reference` is the normalized name when
    /// the image was found by one.
    static func find(_ input: String, _ store: Store) throws -> (image: ImageRecord, reference: String?) {
        let normalized = (try? Reference(parsing: input))?.withDefaultTag.normalized
        guard !input.isEmpty, let image = try store.image(byNameOrID: input, normalizedName: normalized) else {
            // moby names a reference with its default tag: "No such image: busybox:latest".
            let shown = (try? Reference(parsing: input))?.withDefaultTag.familiarString ?? input
            throw EngineError(.notFound, "No such image: \(shown)")
        }
        let byName = normalized.flatMap { image.names.contains($0) || image.digests.contains($0) ? $0 : nil }
        return (image, byName)
    }

    /// `busybox:latest` for `docker.io/library/busybox:latest`.
    static func familiar(_ name: String) -> String {
        (try? Reference(parsing: name))?.familiarString ?? name
    }

    static func config(of image: ImageRecord) -> ImageConfig? {
        try? ImageConfig.read(image.config)
    }

    /// Removes the directories and blobs of released layers (in the user's namespace).
    static func sweep(_ engine: Engine) throws {
        let worker = try ImageWorker(engine: engine, command: "sweep", arguments: [])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        while worker.read(into: buffer) > 0 {}
        if let error = worker.wait() { throw error }
    }
}

import Images
import Store
import Synchronization

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

    /// The id of the image `find` finds, without reading its record; nil when there is none.
    static func findID(_ input: String, _ store: Store) throws -> String? {
        guard !input.isEmpty else { return nil }
        return try store.imageID(byNameOrID: input, normalizedName: normalizedName(input))
    }

    /// `input` as a normalized reference with its default tag (nil: not a reference), remembered:
    /// a list resolves its containers' image names on every request, and parsing costs more than
    /// the lookup. Bounded: emptied when it holds `normalizedNameLimit`.
    static func normalizedName(_ input: String) -> String? {
        if let known = normalizedNames.withLock({ $0[input] }) { return known }
        let normalized = (try? Reference(parsing: input))?.withDefaultTag.normalized
        normalizedNames.withLock { names in
            if names.count >= normalizedNameLimit { names.removeAll() }
            names[input] = .some(normalized)
        }
        return normalized
    }

    private static let normalizedNames = Mutex<[String: String?]>([:])
    static let normalizedNameLimit = 256

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

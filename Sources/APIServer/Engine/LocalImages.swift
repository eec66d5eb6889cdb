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
        var normalized = (try? Reference(parsing: input))?.withDefaultTag.normalized
        var found = input.isEmpty ? nil : try store.image(byNameOrID: input, normalizedName: normalized)
        if found == nil, !input.isEmpty {
            for candidate in shortNameCandidates(input) {
                if let image = try store.image(byNameOrID: candidate, normalizedName: candidate) {
                    found = image
                    normalized = candidate
                    break
                }
            }
        }
        guard let image = found else {
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
        if let id = try store.imageID(byNameOrID: input, normalizedName: normalizedName(input)) { return id }
        for candidate in shortNameCandidates(input) {
            if let id = try store.imageID(byNameOrID: candidate, normalizedName: candidate) { return id }
        }
        return nil
    }

    /// Where else a short name that is not a local `docker.io` image may be, as Podman looks
    /// (containers/image's `ResolveLocally`): its alias, `localhost/NAME`, then NAME on each
    /// unqualified-search registry of registries.conf; normalized, with the default tag. None
    /// for a name with a registry, an id, or when registries.conf lists no search registry.
    static func shortNameCandidates(_ input: String) -> [String] {
        guard !Reference.hasExplicitDomain(input), let reference = try? Reference(parsing: input),
              let shortNames = try? ShortNames.load() else { return [] }
        var texts: [String] = []
        if let alias = shortNames.alias(for: input) { texts.append(alias) }
        let search = shortNames.unqualifiedSearchRegistries ?? []
        if texts.isEmpty && search.isEmpty { return [] }
        let path = reference.path.hasPrefix(Reference.officialRepositoryPrefix) && !input.contains("/")
            ? String(reference.path.dropFirst(Reference.officialRepositoryPrefix.count)) : reference.path
        texts += (["localhost"] + search).map { $0 + "/" + path }
        return texts.compactMap { text in
            guard var candidate = try? Reference(parsing: text) else { return nil }
            if let digest = reference.digest { candidate = (try? candidate.withDigest(digest)) ?? candidate }
            if let tag = reference.tag { candidate = (try? candidate.withTag(tag)) ?? candidate }
            return candidate.withDefaultTag.normalized
        }
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

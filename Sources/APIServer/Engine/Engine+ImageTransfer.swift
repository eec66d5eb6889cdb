import Images
import Store

/// The engine's side of moving images out: which local images a push sends, and what a save
/// writes (`ImageHandlers+Transfer.swift` relays the image worker and the archive).
extension Engine {
    /// The images a push of `wanted` sends, each with the reference to push it as: the one
    /// tagged (or pinned) image, or with no tag every tag of the repository, as the API does.
    func imagesToPush(_ wanted: Reference) throws -> [(id: String, reference: Reference)] {
        var targets: [(id: String, reference: Reference)] = []
        try withStore { store in
            if wanted.tag != nil || wanted.digest != nil {
                guard let image = try store.image(byNameOrID: wanted.normalized, normalizedName: wanted.normalized) else {
                    throw EngineError(.notFound, "An image does not exist locally with the tag: \(wanted.familiarString)")
                }
                targets.append((image.id, wanted))
            } else {
                // No tag: every tag of the repository, as the API does.
                for image in try store.images() {
                    for tagged in image.names where tagged.hasPrefix(wanted.name + ":") {
                        if let parsed = try? Reference(parsing: tagged) { targets.append((image.id, parsed)) }
                    }
                }
                guard !targets.isEmpty else {
                    throw EngineError(.notFound, "An image does not exist locally with the tag: \(wanted.familiarName)")
                }
            }
        }
        return targets
    }

    /// `docker save`: each named image (a bare repository: every tag it has) once, with the
    /// tags to record and its layer blobs as pulled or loaded, for Docker 25's archive layout.
    func imagesToSave(_ names: [String]) throws -> [SaveImage] {
        let blobs = BlobStore(root: config.skiffRoot)
        var images: [SaveImage] = []
        try withStore { store in
            var byID: [String: Int] = [:]
            var wanted: [(image: ImageRecord, tags: [String])] = []
            // Every image, read only when a name is a bare repository.
            var all: [ImageRecord]?
            for name in names {
                // A repository without tag or digest: every tag it has, as `docker save busybox` does.
                if let parsed = try? Reference(parsing: name), parsed.tag == nil, parsed.digest == nil {
                    if all == nil { all = try store.images() }
                    let tagged = all!.compactMap { image -> (ImageRecord, [String])? in
                        let tags = image.names.filter { $0.hasPrefix(parsed.name + ":") }
                        return tags.isEmpty ? nil : (image, tags.map(LocalImages.familiar))
                    }
                    if !tagged.isEmpty {
                        wanted += tagged.map { (image: $0.0, tags: $0.1) }
                        continue
                    }
                }
                let (image, reference) = try LocalImages.find(name, store)
                wanted.append((image, reference.map { $0.contains("@") ? [] : [LocalImages.familiar($0)] } ?? []))
            }
            for (image, tags) in wanted {
                if let index = byID[image.id] {
                    images[index].repoTags += tags.filter { !images[index].repoTags.contains($0) }
                    continue
                }
                guard let config = LocalImages.config(of: image) else {
                    throw EngineError(.internal, "image \(image.id): unreadable config")
                }
                var layers: [SaveImage.Layer] = []
                for diffID in config.rootfs.diffIDs {
                    guard let blob = try store.layerBlobs(diffID: diffID.description).first(where: {
                        (try? Digest(parsing: $0.digest)).map(blobs.contains) ?? false
                    }), let digest = try? Digest(parsing: blob.digest) else {
                        throw EngineError(.internal, "image \(image.id): layer \(diffID) has no blob to save")
                    }
                    layers.append(SaveImage.Layer(digest: digest, size: blob.size, path: blobs.path(of: digest),
                                                  compression: MediaType.layerCompression(blob.mediaType) ?? .none))
                }
                byID[image.id] = images.count
                images.append(SaveImage(config: image.config, layers: layers, repoTags: tags))
            }
        }
        return images
    }
}

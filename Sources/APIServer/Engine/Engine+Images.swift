import Images
import Store

/// The engine operations on local images that read and name them (list, inspect, history, tag,
/// remove, prune); `ImageHandlers` decodes the requests and builds Docker's answers. What writes
/// layers or talks to a registry runs in the image worker (`ImageWorker`).
extension Engine {
    // MARK: - list

    /// The images `filters` selects (`dangling`, `label`, `reference`, `before`, `since`,
    /// `until`), intermediate ones too with `all`, each with the names to show (those a
    /// `reference` filter matched, else all its tags, familiar) and its config.
    func listImages(all: Bool, filters: Filters) throws -> [(image: ImageRecord, tags: [String], config: ImageConfig?)] {
        let images = try withStore { store -> [ImageRecord] in
            var images = try store.images(all: all)
            if let dangling = try filters.bool("dangling") {
                images = images.filter { $0.isDangling == dangling }
            }
            // As moby: the earliest of the before-times (`before` images, `until`), the latest `since`.
            var before: [Int64] = try filters.values("before").map { try LocalImages.find($0, store).image.created }
            before += try filters.values("until").map(Filters.parseUntil)
            if let limit = before.min() { images = images.filter { $0.created < limit } }
            if let limit = try filters.values("since").map({ try LocalImages.find($0, store).image.created }).max() {
                images = images.filter { $0.created > limit }
            }
            return images
        }
        var result: [(image: ImageRecord, tags: [String], config: ImageConfig?)] = []
        for image in images {
            let config = LocalImages.config(of: image)
            if !filters.labelsMatch(config?.config?.labels ?? [:]) { continue }
            let references = filters.values("reference")
            var tags = image.names.map(LocalImages.familiar)
            if !references.isEmpty {
                let matching = tags.filter { tag in references.contains { Filters.referenceMatches($0, tag) } }
                if matching.isEmpty { continue }
                tags = matching
            }
            result.append((image, tags, config))
        }
        return result
    }

    // MARK: - inspect, history

    /// The image `name` resolves to, with its config, the diff ids of its layers (bottom
    /// first) and their `diff` directories.
    func inspectImage(_ name: String) throws -> (image: ImageRecord, config: ImageConfig?, diffIDs: [String], layerDirectories: [String]) {
        let (image, diffIDs) = try withStore { store -> (ImageRecord, [String]) in
            let image = try LocalImages.find(name, store).image
            let diffIDs = try image.layers.map { try store.layer(chainID: $0)?.diffID ?? "" }
            return (image, diffIDs)
        }
        let layersPath = config.skiffRoot + "/layers/"
        let directories = image.layers.map { layersPath + $0.dropFirst(7) + "/diff" }
        return (image, LocalImages.config(of: image), diffIDs, directories)
    }

    /// The image `name` resolves to, with its config and the size of each layer (bottom first).
    func imageHistory(_ name: String) throws -> (image: ImageRecord, config: ImageConfig?, layerSizes: [Int64]) {
        let (image, sizes) = try withStore { store -> (ImageRecord, [Int64]) in
            let image = try LocalImages.find(name, store).image
            return (image, try image.layers.map { try store.layer(chainID: $0)?.size ?? 0 })
        }
        return (image, LocalImages.config(of: image), sizes)
    }

    // MARK: - tag

    /// Names the image `name` resolves to `target` (normalized, `latest` when untagged) and
    /// records `tag`.
    func tagImage(_ name: String, as target: Reference) throws {
        let normalized = target.withDefaultTag.normalized
        try withStore { store in
            let image = try LocalImages.find(name, store).image
            try store.tag(imageID: image.id, name: normalized)
            ImageEvents.record(store, "tag", actorID: image.id, name: LocalImages.familiar(normalized), image: image)
        }
    }

    // MARK: - remove, prune

    /// Removes a name, or an image by id: a name is untagged and the image goes with its last
    /// name unless a container uses it (`force`: even then for a single reference; by id, even
    /// with several names). Returns what was untagged and deleted, in moby's order.
    func removeImage(_ name: String, force: Bool) throws -> [ImageRemoval] {
        var items: [ImageRemoval] = []
        var released = false
        try withStore { store in
            let (image, reference) = try LocalImages.find(name, store)
            var deleteByID = reference == nil
            if let reference {
                // A name: untag it; the image goes with its last name, unless a container uses it.
                let inUse = try store.imageInUse(image.id)
                if Engine.isSingleReference(image) && inUse && !force {
                    throw EngineError(.conflict, "conflict: unable to remove repository reference \"\(name)\" (must force) "
                        + "- a container is using its referenced image \(Store.shortID(image.id))")
                }
                let untagging = try store.untag(name: reference)
                items += untagging.untagged.map { .untagged(LocalImages.familiar($0)) }
                ImageEvents.recordRemoval(store, image: image, untagged: untagging.untagged.count, deleted: false)
                deleteByID = untagging.isNameless && !inUse
            }
            if deleteByID {
                let deletion = try store.deleteImage(id: image.id, force: force)
                items += deletion.untagged.map { .untagged(LocalImages.familiar($0)) }
                ImageEvents.recordRemoval(store, image: image, untagged: deletion.untagged.count, deleted: deletion.deleted)
                if deletion.deleted {
                    items.append(.deleted(image.id))
                    items += deletion.releasedLayers.map { .deleted($0) }
                    released = !deletion.releasedLayers.isEmpty
                }
            }
        }
        if released { try LocalImages.sweep(self) }
        return items
    }

    /// moby's `isSingleReference`: at most one tag, and every name in one repository (a pulled
    /// image's tag and digest count as one reference).
    static func isSingleReference(_ image: ImageRecord) -> Bool {
        let repositories = Set((image.names + image.digests).compactMap { try? Reference(parsing: $0).name })
        return image.names.count <= 1 && repositories.count <= 1
    }

    /// Removes the images no container uses: dangling ones only with `danglingOnly`, those
    /// created before `until` (seconds since the epoch), whose labels `matches` accepts.
    /// Returns what was untagged and deleted, and the bytes of the layers released.
    func pruneImages(danglingOnly: Bool, until: Int64?,
                     matches: (_ labels: [String: String]) -> Bool) throws -> (removed: [ImageRemoval], reclaimed: Int64) {
        var items: [ImageRemoval] = []
        var reclaimed: Int64 = 0
        var released = false
        try withStore { store in
            for image in try store.images() {
                if danglingOnly && !image.isDangling { continue }
                if let until, image.created >= until { continue }
                if !matches(LocalImages.config(of: image)?.config?.labels ?? [:]) { continue }
                if try store.imageInUse(image.id) { continue }
                var layerSizes: [String: Int64] = [:]
                for chainID in image.layers { layerSizes[chainID] = try store.layer(chainID: chainID)?.size ?? 0 }
                let deletion = try store.deleteImage(id: image.id, force: true)
                items += deletion.untagged.map { .untagged(LocalImages.familiar($0)) }
                ImageEvents.recordRemoval(store, image: image, untagged: deletion.untagged.count, deleted: deletion.deleted)
                if deletion.deleted {
                    items.append(.deleted(image.id))
                    items += deletion.releasedLayers.map { .deleted($0) }
                    reclaimed += deletion.releasedLayers.reduce(0) { $0 + (layerSizes[$1] ?? 0) }
                    released = released || !deletion.releasedLayers.isEmpty
                }
            }
        }
        if released { try LocalImages.sweep(self) }
        return (items, reclaimed)
    }
}

import Config
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The image routes (moby's ImageList, ImageInspect, ImageCreate, ...). Reads and names are
/// handled here (list, inspect, history, tag, delete, prune); what writes layers or talks to a
/// registry runs in the image worker (`skiff-image`), whose output is relayed to the client
/// (`ImageHandlers+Transfer.swift`).
enum ImageHandlers {
    // MARK: - GET /images/json

    @Sendable static func imageList(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["dangling", "label", "reference", "before", "since", "until"])
        let images = try engine.withStore { store -> [ImageRecord] in
            var images = try store.images(all: request.queryBool("all"))
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
        var result: [JSON] = []
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
            result.append(summary(image, tags: tags, config: config, version: request.version))
        }
        return .json(.array(result))
    }

    /// moby's `ImageSummary`.
    static func summary(_ image: ImageRecord, tags: [String], config: ImageConfig?, version: APIVersion) -> JSON {
        var members = [
            JSON.Member("Containers", .int(-1)),
            JSON.Member("Created", .int(image.created)),
            JSON.Member("Id", .string(image.id)),
            JSON.Member("Labels", labels(config)),
            JSON.Member("ParentId", .string("")),
            JSON.Member("RepoDigests", JSON(image.digests.map(LocalImages.familiar))),
            JSON.Member("RepoTags", JSON(tags)),
            JSON.Member("SharedSize", .int(-1)),
            JSON.Member("Size", .int(image.size)),
        ]
        if version < APIVersion(major: 1, minor: 44) { members.append(JSON.Member("VirtualSize", .int(image.size))) }
        return .object(members)
    }

    static func labels(_ config: ImageConfig?) -> JSON {
        guard let labels = config?.config?.labels else { return .null }
        return .object(labels.keys.sorted().map { JSON.Member($0, .string(labels[$0]!)) })
    }

    // MARK: - GET /images/{name}/json

    @Sendable static func imageInspect(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let (image, diffIDs) = try engine.withStore { store -> (ImageRecord, [String]) in
            let image = try LocalImages.find(name, store).image
            let diffIDs = try image.layers.map { try store.layer(chainID: $0)?.diffID ?? "" }
            return (image, diffIDs)
        }
        let config = LocalImages.config(of: image)
        var containerConfig: [JSON.Member] = [
            JSON.Member("Hostname", ""), JSON.Member("Domainname", ""), JSON.Member("User", ""),
            JSON.Member("AttachStdin", false), JSON.Member("AttachStdout", false), JSON.Member("AttachStderr", false),
            JSON.Member("Tty", false), JSON.Member("OpenStdin", false), JSON.Member("StdinOnce", false),
            JSON.Member("Env", .null), JSON.Member("Cmd", .null), JSON.Member("Image", ""),
            JSON.Member("Volumes", .null), JSON.Member("WorkingDir", ""), JSON.Member("Entrypoint", .null),
            JSON.Member("OnBuild", .null), JSON.Member("Labels", .null),
        ]
        if case .object(let own)? = config?.config?.json {
            for member in own {
                if let i = containerConfig.firstIndex(where: { $0.key == member.key }) {
                    containerConfig[i] = member
                } else {
                    containerConfig.append(member)
                }
            }
        }
        let layersPath = engine.config.skiffRoot + "/layers/"
        let diffs = image.layers.map { layersPath + $0.dropFirst(7) + "/diff" }
        var graphData: [JSON.Member] = []
        if let top = diffs.last {
            if diffs.count > 1 {
                graphData.append(JSON.Member("LowerDir", .string(diffs.dropLast().reversed().joined(separator: ":"))))
            }
            graphData.append(JSON.Member("UpperDir", .string(top)))
        }
        var members: [JSON.Member] = [
            JSON.Member("Id", .string(image.id)),
            JSON.Member("RepoTags", JSON(image.names.map(LocalImages.familiar))),
            JSON.Member("RepoDigests", JSON(image.digests.map(LocalImages.familiar))),
            JSON.Member("Parent", ""),
            JSON.Member("Comment", .string(config?.history.last?.comment ?? "")),
            JSON.Member("Created", .string(config?.created ?? "")),
            JSON.Member("DockerVersion", ""),
            JSON.Member("Author", .string(config?.author ?? "")),
            JSON.Member("Config", .object(containerConfig)),
            JSON.Member("Architecture", .string(config?.architecture ?? "")),
        ]
        if let variant = config?.variant, !variant.isEmpty { members.append(JSON.Member("Variant", .string(variant))) }
        members += [
            JSON.Member("Os", .string(config?.os ?? "")),
            JSON.Member("Size", .int(image.size)),
        ]
        if request.version < APIVersion(major: 1, minor: 44) { members.append(JSON.Member("VirtualSize", .int(image.size))) }
        members += [
            JSON.Member("GraphDriver", .object([JSON.Member("Data", .object(graphData)),
                                                JSON.Member("Name", "overlay")])),
            JSON.Member("RootFS", .object([JSON.Member("Type", "layers"), JSON.Member("Layers", JSON(diffIDs))])),
            JSON.Member("Metadata", .object([JSON.Member("LastTagTime", "0001-01-01T00:00:00Z")])),
        ]
        return .json(.object(members))
    }

    // MARK: - GET /images/{name}/history

    @Sendable static func imageHistory(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let (image, sizes) = try engine.withStore { store -> (ImageRecord, [Int64]) in
            let image = try LocalImages.find(name, store).image
            return (image, try image.layers.map { try store.layer(chainID: $0)?.size ?? 0 })
        }
        let config = LocalImages.config(of: image)
        var entries = config?.history ?? []
        if entries.isEmpty {
            entries = sizes.map { _ in ImageConfig.History(created: config?.created) }
        }
        var layer = 0
        var result: [JSON] = []
        for (i, entry) in entries.enumerated() {
            var size: Int64 = 0
            if !entry.emptyLayer {
                size = layer < sizes.count ? sizes[layer] : 0
                layer += 1
            }
            let isTop = i == entries.count - 1
            result.append(.object([
                JSON.Member("Comment", .string(entry.comment ?? "")),
                JSON.Member("Created", .int(entry.created.flatMap(Timestamp.parseRFC3339) ?? 0)),
                JSON.Member("CreatedBy", .string(entry.createdBy ?? "")),
                JSON.Member("Id", .string(isTop ? image.id : "<missing>")),
                JSON.Member("Size", .int(size)),
                JSON.Member("Tags", isTop && !image.names.isEmpty ? JSON(image.names.map(LocalImages.familiar)) : .null),
            ]))
        }
        return .json(.array(result.reversed()))
    }

    // MARK: - POST /images/{name}/tag

    @Sendable static func imageTag(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let repository = request.queryValue("repo") ?? ""
        guard !repository.isEmpty else { throw EngineError(.invalidArgument, "repository name must have at least one component") }
        var target: Reference
        do {
            target = try Reference(parsing: repository)
            if let tag = request.queryValue("tag"), !tag.isEmpty { target = try target.withTag(tag) }
        } catch {
            throw EngineError(.invalidArgument, error.message)
        }
        guard target.digest == nil else { throw EngineError(.invalidArgument, "refusing to create a tag with a digest reference") }
        let normalized = target.withDefaultTag.normalized
        try engine.withStore { store in
            let image = try LocalImages.find(name, store).image
            try store.tag(imageID: image.id, name: normalized)
            ImageEvents.record(store, "tag", actorID: image.id, name: LocalImages.familiar(normalized), image: image)
        }
        return Response(status: .created)
    }

    // MARK: - DELETE /images/{name}

    @Sendable static func imageDelete(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let force = request.queryBool("force")
        var items: [JSON] = []
        var released = false
        try engine.withStore { store in
            let (image, reference) = try LocalImages.find(name, store)
            var deleteByID = reference == nil
            if let reference {
                // A name: untag it; the image goes with its last name, unless a container uses it.
                let inUse = try store.imageInUse(image.id)
                if isSingleReference(image) && inUse && !force {
                    throw EngineError(.conflict, "conflict: unable to remove repository reference \"\(name)\" (must force) "
                        + "- a container is using its referenced image \(Store.shortID(image.id))")
                }
                let untagging = try store.untag(name: reference)
                items += untagging.untagged.map { JSON.object([JSON.Member("Untagged", .string(LocalImages.familiar($0)))]) }
                ImageEvents.recordRemoval(store, image: image, untagged: untagging.untagged.count, deleted: false)
                deleteByID = untagging.isNameless && !inUse
            }
            if deleteByID {
                let deletion = try store.deleteImage(id: image.id, force: force)
                items += deletion.untagged.map { JSON.object([JSON.Member("Untagged", .string(LocalImages.familiar($0)))]) }
                ImageEvents.recordRemoval(store, image: image, untagged: deletion.untagged.count, deleted: deletion.deleted)
                if deletion.deleted {
                    items.append(.object([JSON.Member("Deleted", .string(image.id))]))
                    items += deletion.releasedLayers.map { JSON.object([JSON.Member("Deleted", .string($0))]) }
                    released = !deletion.releasedLayers.isEmpty
                }
            }
        }
        if released { try LocalImages.sweep(engine) }
        return .json(.array(items))
    }

    /// moby's `isSingleReference`: at most one tag, and every name in one repository (a pulled
    /// image's tag and digest count as one reference).
    static func isSingleReference(_ image: ImageRecord) -> Bool {
        let repositories = Set((image.names + image.digests).compactMap { try? Reference(parsing: $0).name })
        return image.names.count <= 1 && repositories.count <= 1
    }

    // MARK: - POST /images/prune

    @Sendable static func imagePrune(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["dangling", "label", "label!", "until"])
        let danglingOnly = try filters.bool("dangling") ?? true
        let until = try filters.values("until").first.map(Filters.parseUntil)
        var items: [JSON] = []
        var reclaimed: Int64 = 0
        var released = false
        try engine.withStore { store in
            for image in try store.images() {
                if danglingOnly && !image.isDangling { continue }
                if let until, image.created >= until { continue }
                if !filters.labelsMatch(LocalImages.config(of: image)?.config?.labels ?? [:]) { continue }
                if try store.imageInUse(image.id) { continue }
                var layerSizes: [String: Int64] = [:]
                for chainID in image.layers { layerSizes[chainID] = try store.layer(chainID: chainID)?.size ?? 0 }
                let deletion = try store.deleteImage(id: image.id, force: true)
                items += deletion.untagged.map { JSON.object([JSON.Member("Untagged", .string(LocalImages.familiar($0)))]) }
                ImageEvents.recordRemoval(store, image: image, untagged: deletion.untagged.count, deleted: deletion.deleted)
                if deletion.deleted {
                    items.append(.object([JSON.Member("Deleted", .string(image.id))]))
                    items += deletion.releasedLayers.map { JSON.object([JSON.Member("Deleted", .string($0))]) }
                    reclaimed += deletion.releasedLayers.reduce(0) { $0 + (layerSizes[$1] ?? 0) }
                    released = released || !deletion.releasedLayers.isEmpty
                }
            }
        }
        if released { try LocalImages.sweep(engine) }
        return .json(.object([JSON.Member("ImagesDeleted", items.isEmpty ? .null : .array(items)),
                              JSON.Member("SpaceReclaimed", .int(reclaimed))]))
    }
}

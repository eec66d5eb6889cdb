import Config
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The image routes (moby's ImageList, ImageInspect, ImageCreate, ...): each decodes the request,
/// calls its engine operation (`Engine+Images.swift` for list, inspect, history, tag, delete,
/// prune) and builds Docker's answer. What writes layers or talks to a registry runs in the
/// image worker (`skiff-image`), whose output is relayed to the client
/// (`ImageHandlers+Transfer.swift`).
enum ImageHandlers {
    // MARK: - GET /images/json

    @Sendable static func imageList(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["dangling", "label", "reference", "before", "since", "until"])
        let images = try engine.listImages(all: request.queryBool("all"), filters: filters)
        return .json(.array(images.map { summary($0.image, tags: $0.tags, config: $0.config, version: request.version) }))
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
        let (image, config, diffIDs, diffs) = try engine.inspectImage(request.parameters["name"] ?? "")
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
        let (image, config, sizes) = try engine.imageHistory(request.parameters["name"] ?? "")
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
        try engine.tagImage(name, as: target)
        return Response(status: .created)
    }

    // MARK: - DELETE /images/{name}

    @Sendable static func imageDelete(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let force = request.queryBool("force")
        let removed = try engine.removeImage(name, force: force)
        return .json(.array(removed.map(item)))
    }

    /// One entry of moby's `ImageDeleteResponseItem`.
    static func item(_ removal: ImageRemoval) -> JSON {
        switch removal {
        case .untagged(let name): return .object([JSON.Member("Untagged", .string(name))])
        case .deleted(let id): return .object([JSON.Member("Deleted", .string(id))])
        }
    }

    // MARK: - POST /images/prune

    @Sendable static func imagePrune(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["dangling", "label", "label!", "until"])
        let danglingOnly = try filters.bool("dangling") ?? true
        let until = try filters.values("until").first.map(Filters.parseUntil)
        let (removed, reclaimed) = try engine.pruneImages(danglingOnly: danglingOnly, until: until, matches: filters.labelsMatch)
        let items = removed.map(item)
        return .json(.object([JSON.Member("ImagesDeleted", items.isEmpty ? .null : .array(items)),
                              JSON.Member("SpaceReclaimed", .int(reclaimed))]))
    }
}

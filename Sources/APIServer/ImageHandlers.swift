import Config
import Images
import Platform
import Synchronization
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The image routes (moby's ImageList, ImageInspect, ImageCreate, ...). Reads and names are
/// handled here; everything that writes layers or talks to a registry runs in the image
/// worker (`skiff-image`), whose output is relayed to the client.
enum ImageHandlers {
    static let routes: [Route] = [
        Route("GET", "/images/json", "ImageList", blocking: true, list),
        Route("POST", "/images/create", "ImageCreate", spool: true, create),
        Route("POST", "/images/load", "ImageLoad", spool: true, load),
        Route("GET", "/images/get", "ImageGetAll", blocking: true, saveAll),
        Route("POST", "/images/prune", "ImagePrune", blocking: true, prune),
        Route("GET", "/images/{name:.*}/json", "ImageInspect", blocking: true, inspect),
        Route("GET", "/images/{name:.*}/history", "ImageHistory", blocking: true, history),
        Route("GET", "/images/{name:.*}/get", "ImageGet", blocking: true, save),
        Route("POST", "/images/{name:.*}/tag", "ImageTag", blocking: true, tag),
        Route("POST", "/images/{name:.*}/push", "ImagePush", blocking: true, push),
        Route("DELETE", "/images/{name:.*}", "ImageDelete", blocking: true, delete),
    ]

    // MARK: - Finding images

    /// The local image `input` names (full id, reference, or unique id prefix), as moby
    /// resolves it; 404 "No such image" otherwise. `reference` is the normalized name when
    /// the image was found by one.
    static func find(_ input: String, _ store: Store) throws -> (image: ImageRecord, reference: String?) {
        let normalized = (try? Reference(parsing: input))?.withDefaultTag.normalized
        guard !input.isEmpty, let image = try store.image(byNameOrID: input, normalizedName: normalized) else {
            // moby names a reference with its default tag: "No such image: busybox:latest".
            let shown = (try? Reference(parsing: input))?.withDefaultTag.familiarString ?? input
            throw APIError(.notFound, "No such image: \(shown)")
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

    // MARK: - GET /images/json

    @Sendable static func list(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["dangling", "label", "reference", "before", "since", "until"])
        let images = try engine.withStore { store -> [ImageRecord] in
            var images = try store.images(all: request.queryBool("all"))
            if let dangling = try filters.bool("dangling") {
                images = images.filter { $0.isDangling == dangling }
            }
            // As moby: the earliest of the before-times (`before` images, `until`), the latest `since`.
            var before: [Int64] = try filters.values("before").map { try find($0, store).image.created }
            before += try filters.values("until").map(Filters.parseUntil)
            if let limit = before.min() { images = images.filter { $0.created < limit } }
            if let limit = try filters.values("since").map({ try find($0, store).image.created }).max() {
                images = images.filter { $0.created > limit }
            }
            return images
        }
        var result: [JSON] = []
        for image in images {
            let config = config(of: image)
            if !filters.labelsMatch(config?.config?.labels ?? [:]) { continue }
            let references = filters.values("reference")
            var tags = image.names.map(familiar)
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
            JSON.Member("RepoDigests", JSON(image.digests.map(familiar))),
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

    @Sendable static func inspect(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let (image, diffIDs) = try engine.withStore { store -> (ImageRecord, [String]) in
            let image = try find(name, store).image
            let diffIDs = try image.layers.map { try store.layer(chainID: $0)?.diffID ?? "" }
            return (image, diffIDs)
        }
        let config = config(of: image)
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
            JSON.Member("RepoTags", JSON(image.names.map(familiar))),
            JSON.Member("RepoDigests", JSON(image.digests.map(familiar))),
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

    @Sendable static func history(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let (image, sizes) = try engine.withStore { store -> (ImageRecord, [Int64]) in
            let image = try find(name, store).image
            return (image, try image.layers.map { try store.layer(chainID: $0)?.size ?? 0 })
        }
        let config = config(of: image)
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
                JSON.Member("Tags", isTop && !image.names.isEmpty ? JSON(image.names.map(familiar)) : .null),
            ]))
        }
        return .json(.array(result.reversed()))
    }

    // MARK: - POST /images/{name}/tag

    @Sendable static func tag(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let repository = request.queryValue("repo") ?? ""
        guard !repository.isEmpty else { throw APIError(.badRequest, "repository name must have at least one component") }
        var target: Reference
        do {
            target = try Reference(parsing: repository)
            if let tag = request.queryValue("tag"), !tag.isEmpty { target = try target.withTag(tag) }
        } catch {
            throw APIError(.badRequest, error.message)
        }
        guard target.digest == nil else { throw APIError(.badRequest, "refusing to create a tag with a digest reference") }
        let normalized = target.withDefaultTag.normalized
        try engine.withStore { store in
            let image = try find(name, store).image
            try store.tag(imageID: image.id, name: normalized)
            ImageEvents.record(store, "tag", actorID: image.id, name: familiar(normalized), image: image)
        }
        return Response(status: .created)
    }

    // MARK: - DELETE /images/{name}

    @Sendable static func delete(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let force = request.queryBool("force")
        var items: [JSON] = []
        var released = false
        try engine.withStore { store in
            let (image, reference) = try find(name, store)
            var deleteByID = reference == nil
            if let reference {
                // A name: untag it; the image goes with its last name, unless a container uses it.
                let inUse = try store.imageInUse(image.id)
                if isSingleReference(image) && inUse && !force {
                    throw APIError(.conflict, "conflict: unable to remove repository reference \"\(name)\" (must force) "
                        + "- a container is using its referenced image \(Store.shortID(image.id))")
                }
                let untagging = try store.untag(name: reference)
                items += untagging.untagged.map { JSON.object([JSON.Member("Untagged", .string(familiar($0)))]) }
                ImageEvents.recordRemoval(store, image: image, untagged: untagging.untagged.count, deleted: false)
                deleteByID = untagging.isNameless && !inUse
            }
            if deleteByID {
                let deletion = try store.deleteImage(id: image.id, force: force)
                items += deletion.untagged.map { JSON.object([JSON.Member("Untagged", .string(familiar($0)))]) }
                ImageEvents.recordRemoval(store, image: image, untagged: deletion.untagged.count, deleted: deletion.deleted)
                if deletion.deleted {
                    items.append(.object([JSON.Member("Deleted", .string(image.id))]))
                    items += deletion.releasedLayers.map { JSON.object([JSON.Member("Deleted", .string($0))]) }
                    released = !deletion.releasedLayers.isEmpty
                }
            }
        }
        if released { try sweep(engine) }
        return .json(.array(items))
    }

    /// moby's `isSingleReference`: at most one tag, and every name in one repository (a pulled
    /// image's tag and digest count as one reference).
    static func isSingleReference(_ image: ImageRecord) -> Bool {
        let repositories = Set((image.names + image.digests).compactMap { try? Reference(parsing: $0).name })
        return image.names.count <= 1 && repositories.count <= 1
    }

    /// Removes the directories and blobs of released layers (in the user's namespace).
    static func sweep(_ engine: Engine) throws {
        let worker = try ImageWorker(engine: engine, command: "sweep", arguments: [])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        while worker.read(into: buffer) > 0 {}
        if let error = worker.wait() { throw error }
    }

    // MARK: - POST /images/prune

    @Sendable static func prune(_ request: Request, _ engine: Engine) throws -> Response {
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
                if !filters.labelsMatch(config(of: image)?.config?.labels ?? [:]) { continue }
                if try store.imageInUse(image.id) { continue }
                var layerSizes: [String: Int64] = [:]
                for chainID in image.layers { layerSizes[chainID] = try store.layer(chainID: chainID)?.size ?? 0 }
                let deletion = try store.deleteImage(id: image.id, force: true)
                items += deletion.untagged.map { JSON.object([JSON.Member("Untagged", .string(familiar($0)))]) }
                ImageEvents.recordRemoval(store, image: image, untagged: deletion.untagged.count, deleted: deletion.deleted)
                if deletion.deleted {
                    items.append(.object([JSON.Member("Deleted", .string(image.id))]))
                    items += deletion.releasedLayers.map { JSON.object([JSON.Member("Deleted", .string($0))]) }
                    reclaimed += deletion.releasedLayers.reduce(0) { $0 + (layerSizes[$1] ?? 0) }
                    released = released || !deletion.releasedLayers.isEmpty
                }
            }
        }
        if released { try sweep(engine) }
        return .json(.object([JSON.Member("ImagesDeleted", items.isEmpty ? .null : .array(items)),
                              JSON.Member("SpaceReclaimed", .int(reclaimed))]))
    }

    // MARK: - POST /images/create (pull, import)

    @Sendable static func create(_ request: Request, _ engine: Engine) throws -> Response {
        let fromImage = request.queryValue("fromImage") ?? ""
        let fromSource = request.queryValue("fromSrc") ?? ""
        if !fromImage.isEmpty { return try pull(request, engine, fromImage) }
        guard !fromSource.isEmpty else { throw APIError(.badRequest, "fromImage or fromSrc is required") }
        return try importRootfs(request, engine, fromSource)
    }

    static func pull(_ request: Request, _ engine: Engine, _ fromImage: String) throws -> Response {
        let shortNames: ShortNames
        var candidates: [Reference]
        do {
            shortNames = try ShortNames.load()
            // moby drops one trailing ':' (what `docker pull -a name` sends).
            let name = fromImage.hasSuffix(":") ? String(fromImage.dropLast()) : fromImage
            candidates = try shortNames.candidates(for: name)
            // The tag parameter replaces a tag in fromImage, as moby does; a digest goes after @.
            if let tag = request.queryValue("tag"), !tag.isEmpty {
                candidates = try candidates.map { candidate throws(StoreError) in
                    let bare = try Reference(parsing: candidate.name)
                    return (try? Digest(parsing: tag)) != nil ? try bare.withDigest(tag) : try bare.withTag(tag)
                }
            }
            candidates = candidates.map(\.withDefaultTag)
        } catch {
            throw APIError(error.code == .invalidArgument ? .badRequest : .internalServerError, error.message)
        }
        var platform: [String] = []
        if let value = request.queryValue("platform"), !value.isEmpty {
            let parts = value.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 3, parts.allSatisfy({ !$0.isEmpty }) else {
                throw APIError(.badRequest, "invalid platform \"\(value)\": want os[/arch[/variant]]")
            }
            // An OS alone means this machine's CPU.
            platform = ["--platform", parts.count == 1 ? value + "/" + Descriptor.Platform.hostArchitecture : value]
        }
        let auth = request.header("X-Registry-Auth") ?? ""
        let platformArguments = platform
        let references = candidates
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            var lastError: APIError?
            for (i, candidate) in references.enumerated() {
                if shortNames.isBlocked(candidate) {
                    lastError = APIError(.forbidden, "registry \(candidate.domain) is blocked in registries.conf")
                    continue
                }
                let worker = try ImageWorker(engine: engine, command: "pull",
                                             arguments: ["--reference", candidate.description]
                                                 + registryArguments(candidate.domain, shortNames, engine) + platformArguments,
                                             environment: ["SKIFF_REGISTRY_AUTH": auth])
                try ImageWorker.relay(worker, to: writer)
                guard let error = worker.wait() else {
                    ImageEvents.recordReference(engine, "pull", candidate)
                    return
                }
                // Before any output, a further search registry may have it.
                if !writer.committed && i < references.count - 1 {
                    lastError = error
                    continue
                }
                try report(error, writer)
                return
            }
            if let lastError { try report(lastError, writer) }
        }
    }

    /// An error from a message stream: the response's status before any output, else an
    /// `errorDetail` message.
    static func report(_ error: APIError, _ writer: ResponseWriter) throws {
        guard writer.committed else { throw error }
        try writer.write(JSON.object([JSON.Member("errorDetail", .object([JSON.Member("message", .string(error.message))])),
                                      JSON.Member("error", .string(error.message))]).bytes + [0x0A])
    }

    /// `--insecure` for registries registries.conf marks insecure and loopback ones (as Docker
    /// treats 127.0.0.0/8), `--cert-dir` when a certs.d directory exists for the host,
    /// `--timeout` from SKIFF_REGISTRY_TIMEOUT.
    static func registryArguments(_ domain: String, _ shortNames: ShortNames, _ engine: Engine) -> [String] {
        var arguments: [String] = []
        if shortNames.isInsecure(domain) || ShortNames.isLoopback(domain) { arguments.append("--insecure") }
        let environment = ConfigEnvironment.current()
        var directories: [String] = []
        if !environment.isRoot {
            directories.append((environment.variable("XDG_CONFIG_HOME") ?? environment.home + "/.config") + "/containers/certs.d")
        }
        directories += ["/etc/containers/certs.d", "/etc/docker/certs.d"]
        for directory in directories where access(directory + "/" + domain, R_OK | X_OK) == 0 {
            arguments += ["--cert-dir", directory + "/" + domain]
            break
        }
        if let timeout = environment.variable("SKIFF_REGISTRY_TIMEOUT"), Int(timeout) != nil {
            arguments += ["--timeout", timeout]
        }
        return arguments
    }

    static func importRootfs(_ request: Request, _ engine: Engine, _ source: String) throws -> Response {
        guard source == "-" else {
            throw APIError(.badRequest, "importing from a URL is not supported: send the tarball as the request body with fromSrc=-")
        }
        var arguments: [String] = []
        if let repository = request.queryValue("repo"), !repository.isEmpty {
            do {
                var reference = try Reference(parsing: repository)
                if let tag = request.queryValue("tag"), !tag.isEmpty { reference = try reference.withTag(tag) }
                guard reference.digest == nil else { throw APIError(.badRequest, "cannot import with a digest reference") }
                arguments += ["--tag", reference.withDefaultTag.normalized]
            } catch let error as StoreError {
                throw APIError(.badRequest, error.message)
            }
        }
        let changes = request.query["changes"] ?? []
        var scratch = ImageConfig.Container()
        do {
            try ImageChanges.apply(changes, to: &scratch)
        } catch {
            throw APIError(.badRequest, error.message)
        }
        for change in changes { arguments += ["--change", change] }
        if let message = request.queryValue("message"), !message.isEmpty { arguments += ["--message", message] }
        guard let body = request.spooled, body.size > 0 else { throw APIError(.badRequest, "the request body is empty: send the rootfs tarball") }
        let workerArguments = arguments
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            let worker = try ImageWorker(engine: engine, command: "import", arguments: workerArguments, input: body)
            let output = ImageEvents.Output()
            if try ImageWorker.relayMessages(worker, to: writer, observer: output) { output.record(engine, "import") }
        }
    }

    // MARK: - POST /images/load

    @Sendable static func load(_ request: Request, _ engine: Engine) throws -> Response {
        guard let body = request.spooled, body.size > 0 else {
            throw APIError(.badRequest, "the request body is empty: send an image archive (docker save, OCI layout)")
        }
        let arguments = request.queryBool("quiet") ? ["--quiet"] : []
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            let worker = try ImageWorker(engine: engine, command: "load", arguments: arguments, input: body)
            let output = ImageEvents.Output()
            if try ImageWorker.relayMessages(worker, to: writer, observer: output) { output.record(engine, "load") }
        }
    }

    // MARK: - POST /images/{name}/push

    @Sendable static func push(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        var targets: [(id: String, reference: Reference)] = []
        let shortNames = (try? ShortNames.load()) ?? ShortNames()
        do {
            var reference = try Reference(parsing: name)
            if let tag = request.queryValue("tag"), !tag.isEmpty { reference = try reference.withTag(tag) }
            let wanted = reference
            try engine.withStore { store in
                if wanted.tag != nil || wanted.digest != nil {
                    guard let image = try store.image(byNameOrID: wanted.normalized, normalizedName: wanted.normalized) else {
                        throw APIError(.notFound, "An image does not exist locally with the tag: \(wanted.familiarString)")
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
                        throw APIError(.notFound, "An image does not exist locally with the tag: \(wanted.familiarName)")
                    }
                }
            }
        } catch let error as StoreError {
            throw APIError(.badRequest, error.message)
        }
        let auth = request.header("X-Registry-Auth") ?? ""
        let pushes = targets
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            for target in pushes {
                let worker = try ImageWorker(engine: engine, command: "push",
                                             arguments: ["--image", target.id, "--reference", target.reference.normalized]
                                                 + registryArguments(target.reference.domain, shortNames, engine),
                                             environment: ["SKIFF_REGISTRY_AUTH": auth])
                guard try ImageWorker.relayMessages(worker, to: writer) else { return }
                ImageEvents.recordReference(engine, "push", target.reference)
            }
        }
    }

    // MARK: - GET /images/{name}/get, GET /images/get

    @Sendable static func save(_ request: Request, _ engine: Engine) throws -> Response {
        try saveResponse([request.parameters["name"] ?? ""], engine)
    }

    @Sendable static func saveAll(_ request: Request, _ engine: Engine) throws -> Response {
        let names = request.query["names"] ?? []
        guard !names.isEmpty else { throw APIError(.badRequest, "no images named: give names=...") }
        return try saveResponse(names, engine)
    }

    /// `docker save`: Docker 25's archive layout with the layer blobs as pulled or loaded.
    static func saveResponse(_ names: [String], _ engine: Engine) throws -> Response {
        let blobs = BlobStore(root: engine.config.skiffRoot)
        var images: [SaveImage] = []
        try engine.withStore { store in
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
                        return tags.isEmpty ? nil : (image, tags.map(familiar))
                    }
                    if !tagged.isEmpty {
                        wanted += tagged.map { (image: $0.0, tags: $0.1) }
                        continue
                    }
                }
                let (image, reference) = try find(name, store)
                wanted.append((image, reference.map { $0.contains("@") ? [] : [familiar($0)] } ?? []))
            }
            for (image, tags) in wanted {
                if let index = byID[image.id] {
                    images[index].repoTags += tags.filter { !images[index].repoTags.contains($0) }
                    continue
                }
                guard let config = config(of: image) else {
                    throw APIError(.internalServerError, "image \(image.id): unreadable config")
                }
                var layers: [SaveImage.Layer] = []
                for diffID in config.rootfs.diffIDs {
                    guard let blob = try store.layerBlobs(diffID: diffID.description).first(where: {
                        (try? Digest(parsing: $0.digest)).map(blobs.contains) ?? false
                    }), let digest = try? Digest(parsing: blob.digest) else {
                        throw APIError(.internalServerError, "image \(image.id): layer \(diffID) has no blob to save")
                    }
                    layers.append(SaveImage.Layer(digest: digest, size: blob.size, path: blobs.path(of: digest),
                                                  compression: MediaType.layerCompression(blob.mediaType) ?? .none))
                }
                byID[image.id] = images.count
                images.append(SaveImage(config: image.config, layers: layers, repoTags: tags))
            }
        }
        let saved = images
        return Response(headers: [("Content-Type", "application/x-tar")]) { writer in
            try ImageArchive.save(saved, to: ResponseSink(writer))
        }
    }
}

/// `docker save` writes straight to the client.
final class ResponseSink: ByteSink {
    private let writer: ResponseWriter

    init(_ writer: ResponseWriter) {
        self.writer = writer
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        do {
            try writer.write(bytes)
        } catch {
            throw StoreError(.io, "\(error)")
        }
    }
}

/// The `filters` query parameter: `{"key": ["value", ...]}` or the older `{"key": {"value": true}}`.
struct Filters {
    private var entries: [String: [String]] = [:]

    init(_ text: String?, allowed: Set<String>) throws {
        guard let text, !text.isEmpty else { return }
        guard let json = try? JSONParser.parse(text), case .object(let members) = json else {
            throw APIError(.badRequest, "invalid filter")
        }
        for member in members {
            guard allowed.contains(member.key) else { throw APIError(.badRequest, "invalid filter '\(member.key)'") }
            switch member.value {
            case .array(let values):
                for value in values {
                    guard case .string(let s) = value else { throw APIError(.badRequest, "invalid filter") }
                    entries[member.key, default: []].append(s)
                }
            case .object(let set):
                entries[member.key, default: []] += set.map(\.key)
            default:
                throw APIError(.badRequest, "invalid filter")
            }
        }
    }

    func values(_ key: String) -> [String] { entries[key] ?? [] }

    /// A boolean filter (`dangling`): nil when absent.
    func bool(_ key: String) throws -> Bool? {
        guard let value = values(key).last else { return nil }
        switch value.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError(.badRequest, "invalid filter '\(key)=[\(values(key).joined(separator: " "))]'")
        }
    }

    /// `label=key` / `label=key=value` must all match; `label!=...` must all not.
    func labelsMatch(_ labels: [String: String]) -> Bool {
        func matches(_ spec: String) -> Bool {
            let parts = spec.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let value = labels[String(parts[0])] else { return false }
            return parts.count == 1 || value == parts[1]
        }
        return values("label").allSatisfy(matches) && !values("label!").contains(where: matches)
    }

    /// moby's reference filter: a glob against `name:tag` or against the name alone.
    static func referenceMatches(_ pattern: String, _ tag: String) -> Bool {
        if fnmatch(pattern, tag, 0) == 0 { return true }
        let name = tag.split(separator: ":").dropLast().joined(separator: ":")
        return !name.isEmpty && fnmatch(pattern, name, 0) == 0
    }

    /// `until`: unix seconds, an RFC 3339 time, or a duration before now (`10m`, `24h`).
    static func parseUntil(_ value: String) throws -> Int64 {
        if let seconds = Int64(value) { return seconds }
        if let time = Timestamp.parseRFC3339(value) { return time }
        var total: Int64 = 0
        var number: Int64 = 0
        var sawDigit = false
        for c in value {
            if let d = c.wholeNumberValue { number = number * 10 + Int64(d); sawDigit = true; continue }
            guard sawDigit else { throw APIError(.badRequest, "invalid filter 'until=\(value)'") }
            switch c {
            case "h": total += number * 3600
            case "m": total += number * 60
            case "s": total += number
            default: throw APIError(.badRequest, "invalid filter 'until=\(value)'")
            }
            number = 0
            sawDigit = false
        }
        guard !sawDigit, total > 0 else { throw APIError(.badRequest, "invalid filter 'until=\(value)'") }
        return Int64(time(nil)) - total
    }
}

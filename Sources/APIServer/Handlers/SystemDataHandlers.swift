import Platform

/// `GET /system/df` (moby's `SystemDataUsage`) and `POST /build/prune` (`BuildPrune`): Skiff
/// has no builder, so its build cache is empty (docs/volumes.md, "System").
enum SystemDataHandlers {
    static let kinds: Set<String> = ["container", "image", "volume", "build-cache"]

    @Sendable static func systemDataUsage(_ request: Request, _ engine: Engine) throws -> Response {
        // API 1.42 and later: `type` (repeated) picks the kinds; without it, all of them.
        var wanted = kinds
        if request.version >= APIVersion(major: 1, minor: 42), let given = request.query["type"] {
            for kind in given where !kinds.contains(kind) {
                throw EngineError(.invalidArgument, "unknown object type: \(kind)")
            }
            wanted = Set(given)
        }
        var members: [JSON.Member] = []
        if wanted.contains("image") {
            let (images, layersSize) = try engine.imageDiskUsage()
            members.append(JSON.Member("LayersSize", .int(layersSize)))
            members.append(JSON.Member("Images", .array(images.map { usage in
                var summary = ImageHandlers.summary(usage.image, tags: usage.tags, config: usage.config, version: request.version)
                if case .object(var fields) = summary {
                    for index in fields.indices {
                        if fields[index].key == "Containers" { fields[index].value = .int(Int64(usage.containers)) }
                        if fields[index].key == "SharedSize" { fields[index].value = .int(usage.sharedSize) }
                    }
                    summary = .object(fields)
                }
                return summary
            })))
        } else {
            members.append(JSON.Member("Images", .null))
        }
        if wanted.contains("container") {
            // The container list with sizes, as `GET /containers/json?all=1&size=1` gives it.
            let list = Request(method: "GET", path: "/containers/json", version: request.version,
                               query: ["all": ["1"], "size": ["1"]], headers: [], body: [])
            let response = try ContainerSpecHandlers.containerList(list, engine)
            members.append(JSON.Member("Containers", try JSONParser.parse(response.body)))
        } else {
            members.append(JSON.Member("Containers", .null))
        }
        if wanted.contains("volume") {
            members.append(JSON.Member("Volumes", .array(try engine.volumeDiskUsage().map { item in
                VolumeHandlers.view(item.entry, engine, usage: item.size)
            })))
        } else {
            members.append(JSON.Member("Volumes", .null))
        }
        members.append(JSON.Member("BuildCache", wanted.contains("build-cache") ? .array([]) : .null))
        return .json(.object(members))
    }

    /// `docker builder prune`, and the last step of `docker system prune`: the classic
    /// builder's cache index emptied (`BuildCache`; its images stay, as images).
    @Sendable static func buildPrune(_ request: Request, _ engine: Engine) throws -> Response {
        _ = try Filters(request.queryValue("filters"), allowed: ["until", "id", "parent", "type", "description", "inuse", "shared", "private"])
        let deleted = BuildCache(directory: engine.config.skiffRoot + "/build-cache").prune()
        return .json(.object([JSON.Member("CachesDeleted", deleted.isEmpty ? .null : .array(deleted.map { JSON.string($0) })),
                              JSON.Member("SpaceReclaimed", .int(0))]))
    }
}

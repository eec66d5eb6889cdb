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
        // The body is written member by member; the container list is spliced in as
        // `GET /containers/json?all=1&size=1` writes it (no second parse of 500 summaries).
        var body: [UInt8] = []
        func member(_ key: String, _ value: JSON) {
            body.append(body.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSON.string(key).write(into: &body)
            body.append(UInt8(ascii: ":"))
            value.write(into: &body)
        }
        if wanted.contains("image") {
            let (images, layersSize) = try engine.imageDiskUsage()
            member("LayersSize", .int(layersSize))
            member("Images", .array(images.map { usage in
                var summary = ImageHandlers.summary(usage.image, tags: usage.tags, config: usage.config, version: request.version)
                if case .object(var fields) = summary {
                    for index in fields.indices {
                        if fields[index].key == "Containers" { fields[index].value = .int(Int64(usage.containers)) }
                        if fields[index].key == "SharedSize" { fields[index].value = .int(usage.sharedSize) }
                    }
                    summary = .object(fields)
                }
                return summary
            }))
        } else {
            member("Images", .null)
        }
        if wanted.contains("container") {
            let list = Request(method: "GET", path: "/containers/json", version: request.version,
                               query: ["all": ["1"], "size": ["1"]], headers: [], body: [])
            var listed = try ContainerSpecHandlers.containerList(list, engine).body
            while let last = listed.last, last == 0x0A || last == 0x20 { listed.removeLast() }
            member("Containers", .null)
            body.removeLast(4)      // the null, replaced by the list's own bytes
            body += listed
        } else {
            member("Containers", .null)
        }
        if wanted.contains("volume") {
            member("Volumes", .array(try engine.volumeDiskUsage().map { item in
                VolumeHandlers.view(item.entry, engine, usage: item.size)
            }))
        } else {
            member("Volumes", .null)
        }
        member("BuildCache", wanted.contains("build-cache") ? .array([]) : .null)
        body += Array("}\n".utf8)
        return Response(headers: [("Content-Type", "application/json")], body: body)
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

#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// `/volumes` (docs/volumes.md): moby's `VolumeCreate`, `VolumeList`, `VolumeInspect`,
/// `VolumeDelete`, `VolumePrune`, for the local driver.
enum VolumeHandlers {
    // MARK: - POST /volumes/create

    @Sendable static func volumeCreate(_ request: Request, _ engine: Engine) throws -> Response {
        let json: JSON
        if request.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            json = .object([])
        } else {
            do {
                json = try JSONParser.parse(request.body)
            } catch {
                throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
            }
        }
        let d = GoDecoder(root: "CreateOptions")
        guard case .object = json else { throw EngineError(.invalidArgument, "invalid JSON: json: cannot unmarshal into Go value of type volume.CreateOptions") }
        let f = try d.object(json, "CreateOptions")
        if f["clustervolumespec"] != nil {
            throw EngineError(.unavailable, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
        }
        let record = try engine.createVolume(name: try d.string(f, "Name", ""), driver: try d.string(f, "Driver", ""),
                                             options: try d.stringMap(f, "DriverOpts", ""), labels: try d.stringMap(f, "Labels", ""))
        return .json(view(VolumeEntry(record: record, references: -1), engine), status: .created)
    }

    typealias VolumeEntry = Engine.VolumeEntry

    // MARK: - GET /volumes

    static let listFilters: Set<String> = ["name", "label", "label!", "driver", "dangling"]

    @Sendable static func volumeList(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: listFilters)
        let dangling = try filters.bool("dangling")
        let names = filters.values("name")
        let drivers = filters.values("driver")
        let entries = try engine.listVolumes().filter { entry in
            if let dangling, dangling != (entry.references == 0) { return false }
            if !names.isEmpty && !names.contains(where: { VolumeHandlers.nameMatches($0, entry.record.name) }) { return false }
            if !drivers.isEmpty && !drivers.contains("local") { return false }
            return filters.labelsMatch(entry.record.labels)
        }
        return .json(.object([JSON.Member("Volumes", .array(entries.map { view($0, engine) })),
                              JSON.Member("Warnings", .null)]))
    }

    /// moby's `filters.Args.Match`: the value itself, or the value as a regular expression
    /// found anywhere in the name (POSIX extended here, Go's RE2 in moby).
    static func nameMatches(_ pattern: String, _ name: String) -> Bool {
        if pattern == name { return true }
        return PatternMatch.extendedRegex(pattern, name)
    }

    // MARK: - GET /volumes/{name}

    @Sendable static func volumeInspect(_ request: Request, _ engine: Engine) throws -> Response {
        .json(view(try engine.inspectVolume(request.parameters["name"] ?? ""), engine))
    }

    // MARK: - DELETE /volumes/{name}

    @Sendable static func volumeDelete(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.removeVolume(request.parameters["name"] ?? "", force: request.queryBool("force"))
        return Response(status: .noContent)
    }

    // MARK: - POST /volumes/prune

    @Sendable static func volumePrune(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["label", "label!", "all"])
        // API 1.42 and later prune only anonymous volumes unless `all` is true; before, every
        // unused one.
        let all = try filters.bool("all") ?? (request.version < APIVersion(major: 1, minor: 42))
        let (removed, reclaimed) = try engine.pruneVolumes(all: all, matches: filters.labelsMatch)
        return .json(.object([JSON.Member("VolumesDeleted", removed.isEmpty ? .null : JSON(removed)),
                              JSON.Member("SpaceReclaimed", .int(reclaimed))]))
    }

    // MARK: - the Volume object

    /// moby's `volume.Volume`; `UsageData` only when `usage` is given (`system df`).
    static func view(_ entry: VolumeEntry, _ engine: Engine, usage: Int64? = nil) -> JSON {
        let record = entry.record
        func map(_ m: [String: String]) -> JSON {
            .object(m.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) })
        }
        // A volume a container made has no options and shows none (null), as moby's.
        let labels: JSON = record.labels.isEmpty && record.options == nil ? .null : map(record.labels)
        var members: [JSON.Member] = [
            JSON.Member("CreatedAt", .string(Timestamp.rfc3339Nano(timespec(tv_sec: Int(record.created), tv_nsec: 0)))),
            JSON.Member("Driver", "local"),
            JSON.Member("Labels", labels),
            JSON.Member("Mountpoint", .string(engine.volumeMountpoint(record.name))),
            JSON.Member("Name", .string(record.name)),
            JSON.Member("Options", record.options.map(map) ?? .null),
            JSON.Member("Scope", "local"),
        ]
        if let usage {
            members.append(JSON.Member("UsageData", .object([JSON.Member("RefCount", .int(Int64(entry.references))),
                                                             JSON.Member("Size", .int(usage))])))
        }
        return .object(members)
    }
}

import Images
import Platform
import Store

/// The static side of the container routes: ContainerCreate, ContainerInspect, ContainerList.
/// (Start, stop, attach, logs and the rest live in their own handler files.)
enum ContainerSpecHandlers {
    // MARK: - POST /containers/create

    @Sendable static func containerCreate(_ request: Request, _ engine: Engine) throws -> Response {
        if let type = request.header("Content-Type"), !request.body.isEmpty {
            let media = type.split(separator: ";").first.map { String($0).trimmingBlanksForContainerSpec.lowercased() } ?? ""
            guard media == "application/json" else {
                throw EngineError(.invalidArgument, "unsupported Content-Type header (\(type)): must be 'application/json'")
            }
        }
        let body = try CreateRequest.decode(request.body)
        let (id, warnings) = try engine.createContainer(body, name: request.queryValue("name"))
        return .json(.object([JSON.Member("Id", .string(id)), JSON.Member("Warnings", JSON(warnings))]), status: .created)
    }

    // MARK: - GET /containers/{id}/json

    @Sendable static func containerInspect(_ request: Request, _ engine: Engine) throws -> Response {
        let (record, size) = try engine.inspectContainer(request.parameters["id"] ?? "", size: request.queryBool("size"))
        return .json(try ContainerView.inspect(record, size: size, health: try engine.containerHealth(record.id),
                                               network: ContainerNetwork.state(of: record, engine: engine)))
    }

    // MARK: - GET /containers/json

    static let listFilters: Set<String> = ["ancestor", "before", "exited", "id", "isolation", "label", "name", "status",
                                           "health", "since", "volume", "network", "is-task", "publish", "expose"]

    /// Rows a quick list answers on the event loop, at most; a longer list is read on the pool.
    static let quickListLimit = 32

    @Sendable static func containerList(_ request: Request, _ engine: Engine) throws -> Response {
        let options = try ListOptions(request)
        let rows = try engine.containerListRows(options.reading)
        return try listResponse(options, rows, engine)
    }

    /// The list on the event loop, when it needs neither a wait nor a write: no `size` (it walks
    /// the containers' directories), no filter that reads the stored configs, at most
    /// `quickListLimit` rows, none whose monitor is gone (reconcile writes the row), every row
    /// with its summary. Nil otherwise: `list` runs on the pool.
    @Sendable static func containerListQuick(_ request: Request, _ engine: Engine) throws -> Response? {
        let options = try ListOptions(request)
        guard !options.wantSize, !options.needConfig,
              let rows = try engine.quickContainerListRows(options.reading, limit: quickListLimit) else { return nil }
        return try listResponse(options, rows, engine)
    }

    /// The query of `GET /containers/json`, read before the Store is.
    struct ListOptions {
        var filters: Filters
        var limit = 0
        var all: Bool
        var wantSize: Bool
        /// A filter reads the stored configs (the entries' static parts are kept apart:
        /// `ContainerRecord.summary`).
        var needConfig: Bool

        /// Filters that read the stored configs.
        static let configFilters = ["label", "label!", "volume", "network", "expose"]

        init(_ request: Request) throws {
            filters = try Filters(request.queryValue("filters"), allowed: listFilters)
            if let text = request.queryValue("limit"), !text.isEmpty {
                guard let n = Int(text) else {
                    throw EngineError(.invalidArgument, "strconv.Atoi: parsing \"\(text)\": invalid syntax")
                }
                limit = n
            }
            all = request.queryBool("all")
            wantSize = request.queryBool("size")
            let filters = self.filters
            needConfig = ListOptions.configFilters.contains { !filters.values($0).isEmpty }
        }

        /// What the engine is to read for these options.
        var reading: Engine.ContainerListReading {
            Engine.ContainerListReading(ancestors: filters.values("ancestor"), withConfig: needConfig, imageSizes: wantSize)
        }
    }

    static func listResponse(_ options: ListOptions, _ rows: Engine.ContainerListRows, _ engine: Engine) throws -> Response {
        let records = rows.records
        let query = try ContainerListQuery(filters: options.filters, all: options.all, limit: options.limit,
                                           ancestors: rows.ancestors, records: records, health: rows.health)
        let now = Store.nowNanos()
        var body: [UInt8] = [UInt8(ascii: "[")]
        body.reserveCapacity(records.count * 640)
        for (index, record) in query.select(records).enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            var shown = record.imageName
            if rows.imageIDs[record.imageName] != record.imageID { shown = record.imageID }
            var size: (Int64, Int64)?
            if options.wantSize {
                let rw = ContainerView.sizeRw(containerDir: engine.config.skiffRoot + "/containers/" + record.id)
                size = (rw, rw + (rows.imageSizes[record.imageID] ?? 0))
            }
            let health = rows.health[record.id]
            let ports = ContainerNetwork.publishedPorts(of: record, engine: engine)
            if ports.isEmpty, ContainerView.appendSummary(record, image: shown, now: now, size: size, health: health,
                                                          to: &body) { continue }
            var full = record
            if full.config.isEmpty, let config = try engine.storedConfig(ofContainer: record.id) {
                full.config = config
            }
            try ContainerView.summary(full, image: shown, now: now, size: size, health: health, ports: ports)
                .write(into: &body)
        }
        body += Array("]\n".utf8)
        return Response(headers: [("Content-Type", "application/json")], body: body)
    }
}

/// `GET /containers/json`'s selection (moby's foldFilter and includeContainerInList) over rows
/// newest first; no I/O.
struct ContainerListQuery {
    var filters: Filters
    var all: Bool
    var limit: Int
    /// Image ids of `ancestor` filters (nil: no such filter).
    var ancestors: Set<String>?
    var exited: [Int32] = []
    /// Recorded health statuses by container id (none: `none`).
    var health: [String: String] = [:]
    var before: String?
    var since: String?

    static let states: [String] = ["created", "running", "paused", "restarting", "removing", "exited", "dead"]
    static let healths: [String] = ["none", "starting", "healthy", "unhealthy"]

    init(filters: Filters, all: Bool, limit: Int, ancestors: Set<String>?, records: [ContainerRecord],
         health: [String: String] = [:]) throws {
        self.filters = filters
        self.health = health
        self.all = all
        self.limit = limit
        self.ancestors = ancestors
        for value in filters.values("exited") {
            guard let code = Int32(value) else {
                throw EngineError(.invalidArgument, "invalid filter 'exited=\(value)': strconv.Atoi: parsing \"\(value)\": invalid syntax")
            }
            exited.append(code)
        }
        for value in filters.values("status") {
            guard ContainerListQuery.states.contains(value) else {
                throw EngineError(.invalidArgument, "invalid filter 'status=\(value)'")
            }
            self.all = true
        }
        for value in filters.values("health") where !ContainerListQuery.healths.contains(value) {
            throw EngineError(.invalidArgument, "invalid filter 'health=\(value)': invalid value for health (\(value)): must be one of "
                           + ContainerListQuery.healths.joined(separator: ", "))
        }
        if let isTask = filters.values("is-task").last, ContainerValidation.parseGoBool(isTask) == nil {
            throw EngineError(.invalidArgument, "invalid filter 'is-task=\(isTask)'")
        }
        for value in filters.values("before") { before = try ContainerListQuery.find(value, records) }
        for value in filters.values("since") { since = try ContainerListQuery.find(value, records) }
    }

    /// moby's idOrNameFilter: an id, a unique id prefix or a name.
    static func find(_ value: String, _ records: [ContainerRecord]) throws -> String {
        if let exact = records.first(where: { $0.id == value }) { return exact.id }
        let name = value.hasPrefix("/") ? String(value.dropFirst()) : value
        if let named = records.first(where: { $0.name == name }) { return named.id }
        let prefixed = records.filter { $0.id.hasPrefix(value) }
        if prefixed.count == 1 && !value.isEmpty { return prefixed[0].id }
        throw EngineError(.notFound, "No such container: \(value)")
    }

    func select(_ records: [ContainerRecord]) -> [ContainerRecord] {
        var selected: [ContainerRecord] = []
        var before = self.before
        for record in records {
            if let b = before {
                if record.id == b { before = nil }
                continue
            }
            if let since, record.id == since { break }
            let running = record.state == .running || record.state == .paused || record.state == .restarting
            if !running && !all && limit <= 0 { continue }
            let names = filters.values("name")
            if !names.isEmpty && !names.contains(where: { ContainerListQuery.regexMatches($0, "/" + record.name)
                                                            || ContainerListQuery.regexMatches($0, record.name) }) { continue }
            let ids = filters.values("id")
            if !ids.isEmpty && !ids.contains(where: { record.id.hasPrefix($0) || ContainerListQuery.regexMatches($0, record.id) }) { continue }
            // The stored config is parsed only when a filter needs it (a list parses each once more).
            if !filters.values("label").isEmpty || !filters.values("label!").isEmpty {
                if !filters.labelsMatch((try? StoredContainer(record))?.labels ?? [:]) { continue }
            }
            if limit > 0 && selected.count == limit { break }
            if !exited.isEmpty && !(exited.contains(record.exitCode) && !running && !record.startedAt.isEmpty) { continue }
            let statuses = filters.values("status")
            if !statuses.isEmpty && !statuses.contains(record.state.rawValue) { continue }
            let healths = filters.values("health")
            if !healths.isEmpty && !healths.contains(health[record.id] ?? "none") { continue }
            if let ancestors, !ancestors.contains(record.imageID) { continue }
            if !filters.values("volume").isEmpty {
                let mounts = (try? StoredContainer(record))?.mounts ?? []
                let keys = mounts.flatMap { m -> [String] in
                    [m["Name"], m["Source"], m["Destination"]].compactMap { if case .string(let s)? = $0, !s.isEmpty { return s }; return nil }
                }
                if !filters.values("volume").contains(where: keys.contains) { continue }
            }
            if !filters.values("network").isEmpty {
                let mode = (try? StoredContainer(record))?.networkMode ?? ""
                if !filters.values("network").contains(mode) { continue }
            }
            if let isTask = filters.values("is-task").last.flatMap(ContainerValidation.parseGoBool), isTask { continue }
            if !filters.values("publish").isEmpty { continue }
            if !filters.values("expose").isEmpty {
                let exposed = (try? StoredContainer(record))?.config["ExposedPorts"]
                var ports: [String] = []
                if case .object(let members)? = exposed { ports = members.map(\.key) }
                let wanted = filters.values("expose").map { $0.contains("/") ? $0 : $0 + "/tcp" }
                if !wanted.contains(where: ports.contains) { continue }
            }
            selected.append(record)
        }
        return selected
    }

    /// Go's regexp.MatchString (unanchored); a pattern that does not compile matches nothing.
    static func regexMatches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return text.contains(regex)
    }
}

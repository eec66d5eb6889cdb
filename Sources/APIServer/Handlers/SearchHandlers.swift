import Images
import Platform

/// `GET /images/search` (moby's `ImageSearch`; docs/volumes.md, "Search"): a term without a
/// registry goes to Docker Hub's index, as moby sends it, or, when registries.conf lists
/// `unqualified-search-registries`, to each of those (Podman); a term naming a registry goes
/// to that registry. The image worker asks each (`skiff-image search`); a registry without the
/// v1 search API is searched in its `/v2/_catalog`. When none answers, the first failure is
/// the answer (500, with the request that failed, as moby's).
enum SearchHandlers {
    static let filterNames: Set<String> = ["is-automated", "is-official", "stars"]

    @Sendable static func imageSearch(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: filterNames)
        let automated = try exactBool(filters, "is-automated")
        let official = try exactBool(filters, "is-official")
        var stars: Int64 = 0
        for text in filters.values("stars") {
            guard let n = Int64(text) else { throw EngineError(.invalidArgument, "invalid filter 'stars=\(text)'") }
            stars = max(stars, n)
        }
        var limit = 25
        if let text = request.queryValue("limit"), !text.isEmpty {
            guard let n = Int(text) else {
                throw EngineError(.invalidArgument, "invalid limit specified: strconv.Atoi: parsing \"\(text)\": invalid syntax")
            }
            limit = n == 0 ? 25 : n
        }
        guard (1...100).contains(limit) else {
            throw EngineError(.invalidArgument, "limit \(limit) is outside the range of [1, 100]")
        }
        let term = request.queryValue("term") ?? ""
        let shortNames = (try? ShortNames.load()) ?? ShortNames()
        var results: [JSON] = []
        var firstFailure: EngineError?
        var answered = false
        for (registry, name) in targets(term, shortNames) {
            do {
                let found = try search(registry: registry, term: name, limit: limit, shortNames: shortNames, engine: engine)
                answered = true
                results += found
            } catch let error as EngineError {
                if firstFailure == nil { firstFailure = error }
            }
        }
        if !answered, let firstFailure { throw firstFailure }
        let selected = results.filter { result in
            if let automated, (result["is_automated"] == .bool(true)) != automated { return false }
            if let official, (result["is_official"] == .bool(true)) != official { return false }
            if stars > 0 {
                guard case .int(let count)? = result["star_count"], count >= stars else { return false }
            }
            return true
        }
        return .json(.array(Array(selected.prefix(limit))))
    }

    /// moby's `UniqueExactMatch`: `true` or `false`, else `invalid filter 'k=[v]'`.
    static func exactBool(_ filters: Filters, _ key: String) throws -> Bool? {
        let values = filters.values(key)
        if values.isEmpty { return nil }
        if values == ["true"] { return true }
        if values == ["false"] { return false }
        throw EngineError(.invalidArgument, "invalid filter '\(key)=[\(values.joined(separator: " "))]'")
    }

    /// The registries to ask and the term each is asked: moby's `splitReposSearchTerm` (a first
    /// component with a dot or a colon, or `localhost`, names the registry), `library/` left
    /// out for Docker Hub; a bare term goes to the search registries of registries.conf, or to
    /// Docker Hub when it lists none.
    static func targets(_ term: String, _ shortNames: ShortNames) -> [(registry: String, term: String)] {
        let parts = term.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            let registry = String(parts[0])
            var name = String(parts[1])
            let isHub = registry == Reference.defaultDomain || registry == Reference.legacyDefaultDomain
            if isHub && name.hasPrefix("library/") { name.removeFirst("library/".count) }
            return [(isHub ? Reference.defaultDomain : registry, name)]
        }
        var registries = shortNames.unqualifiedSearchRegistries ?? []
        if registries.isEmpty { registries = [Reference.defaultDomain] }
        var seen: Set<String> = []
        return registries.filter { seen.insert($0).inserted }.map { ($0, term) }
    }

    /// One registry's results, from the image worker.
    static func search(registry: String, term: String, limit: Int, shortNames: ShortNames,
                       engine: Engine) throws -> [JSON] {
        let worker = try ImageWorker(engine: engine, command: "search",
                                     arguments: ["--registry", registry, "--term", term, "--limit", String(limit)]
                                        + Engine.registryArguments(registry, shortNames))
        let output = worker.readOutput(limit: 8 << 20)
        if let error = worker.wait() { throw error }
        guard case .array(let results)? = try? JSONParser.parse(output) else {
            throw EngineError(.internal, "search \(registry): the image worker's answer is not a JSON array")
        }
        return results
    }
}

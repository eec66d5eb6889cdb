import Distribution
import Images
import Platform

/// `skiff-image search --registry DOMAIN --term TERM --limit N [--insecure] [--cert-dir DIR]
/// [--timeout S]`: one registry's part of `GET /images/search`, as a JSON array of moby's
/// `SearchResult` objects on standard output. Docker Hub (`docker.io`) is asked at its index,
/// with the v1 search API, as moby does; another registry with the v1 API, then, where it has
/// none, with the names of its `/v2/_catalog` that contain the term (Podman), each named
/// `DOMAIN/repository`. Whatever fails is a 500 with the request that failed, as moby answers.
extension Worker {
    func search() throws {
        let domain = try options.required("--registry")
        let term = options.value("--term") ?? ""
        let limit = max(1, Int(options.value("--limit") ?? "") ?? 25)
        let timeout = max(1, Int(options.value("--timeout") ?? "") ?? 15)
        let isHub = domain == Reference.defaultDomain || domain == Reference.legacyDefaultDomain
        let client = RegistryClient(host: isHub ? Reference.legacyDefaultDomain : domain, repository: "",
                                    credentials: nil, insecure: options.flag("--insecure"),
                                    certDirectory: options.value("--cert-dir"), timeoutSeconds: timeout,
                                    userAgent: "skiff/0.1.0")
        let results: [RegistryClient.SearchResult]
        switch Worker.search(client, domain: domain, term: term, limit: limit, isHub: isHub) {
        case .success(let found): results = found
        case .failure(let error): throw WorkerFailure(.failed, error.message)
        }
        Output.message(.array(results.prefix(limit).map { result -> JSON in
            .object([JSON.Member("star_count", .int(result.starCount)),
                     JSON.Member("is_official", .bool(result.isOfficial)),
                     JSON.Member("name", .string(result.name)),
                     JSON.Member("is_automated", .bool(result.isAutomated)),
                     JSON.Member("description", .string(result.description))])
        }))
    }

    /// The v1 search; for a registry other than Docker Hub, the catalog where that fails.
    static func search(_ client: RegistryClient, domain: String, term: String, limit: Int,
                       isHub: Bool) -> Result<[RegistryClient.SearchResult], RegistryError> {
        let v1 = Result { () throws(RegistryError) -> [RegistryClient.SearchResult] in try client.searchV1(term: term, limit: limit) }
        if isHub { return v1 }
        if case .success = v1 { return v1 }
        return Result { () throws(RegistryError) -> [RegistryClient.SearchResult] in
            try client.catalogSearch(term: term, limit: limit).map { RegistryClient.SearchResult(name: domain + "/" + $0) }
        }
    }
}

import Platform

/// `/networks`: the predefined `bridge`, `host` and `none` (docs/networking.md). User-defined
/// networks (create, remove, connect) are not served yet.
enum NetworkHandlers {
    static let listFilters: Set<String> = ["name", "id", "driver", "type", "scope", "label", "dangling"]

    // MARK: - GET /networks

    @Sendable static func networkList(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: listFilters)
        try PredefinedNetworks.checkTypeFilter(filters)
        return .json(.array(try PredefinedNetworks.select(filters).map { PredefinedNetworks.view($0) }))
    }

    // MARK: - GET /networks/{id}

    @Sendable static func networkInspect(_ request: Request, _ engine: Engine) throws -> Response {
        let network = try PredefinedNetworks.find(request.parameters["id"] ?? "")
        return .json(PredefinedNetworks.view(network, containers: try engine.containers(onNetwork: network.name)))
    }
}

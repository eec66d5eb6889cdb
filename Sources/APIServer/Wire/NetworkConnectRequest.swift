import Platform

/// moby's `types.NetworkConnect` and `types.NetworkDisconnect` (`POST /networks/{id}/connect`,
/// `/disconnect`), decoded as Go's decoder does: unknown fields ignored, an empty body the zero
/// value, a wrong type 400 with Go's text.
struct NetworkConnectRequest {
    var container = ""
    var endpoint = EndpointSettingsRequest()
    var force = false

    static func decode(_ body: [UInt8], disconnect: Bool) throws -> NetworkConnectRequest {
        var request = NetworkConnectRequest()
        guard !body.isEmpty else { return request }
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        let type = disconnect ? "NetworkDisconnect" : "NetworkConnect"
        let d = GoDecoder(root: type)
        guard case .object = json else {
            throw d.fail(json, "", "types.\(type)")
        }
        let f = try d.object(json, "")
        request.container = try d.string(f, "Container", "")
        if disconnect {
            request.force = try d.bool(f, "Force", "")
        } else if let endpoint = f["endpointconfig"] {
            request.endpoint = try EndpointSettingsRequest.decode(endpoint, d, path: "EndpointConfig")
        }
        return request
    }
}

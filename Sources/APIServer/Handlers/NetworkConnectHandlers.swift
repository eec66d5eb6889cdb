/// `POST /networks/{id}/connect` and `/disconnect` (moby's `NetworkConnect`,
/// `NetworkDisconnect`; docs/networking.md, "Connect and disconnect"): `Engine+NetworkConnect.swift`.
enum NetworkConnectHandlers {
    @Sendable static func networkConnect(_ request: Request, _ engine: Engine) throws -> Response {
        let body = try NetworkConnectRequest.decode(request.body, disconnect: false)
        try engine.connectNetwork(request.parameters["id"] ?? "", container: body.container, endpoint: body.endpoint)
        return Response(status: .ok)
    }

    @Sendable static func networkDisconnect(_ request: Request, _ engine: Engine) throws -> Response {
        let body = try NetworkConnectRequest.decode(request.body, disconnect: true)
        try engine.disconnectNetwork(request.parameters["id"] ?? "", container: body.container, force: body.force)
        return Response(status: .ok)
    }
}

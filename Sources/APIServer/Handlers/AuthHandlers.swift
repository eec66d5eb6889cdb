import Images
import Platform

/// `POST /auth` (moby's `SystemAuth`, `docker login`): the credentials are checked against the
/// registry by the image worker (`skiff-image login`, `Login.swift` there): `/v2/` with Basic or
/// a bearer token from the registry's realm. Nothing is stored here; the client keeps the
/// credentials (the docker CLI in its config.json) and sends them with each pull and push.
enum AuthHandlers {
    @Sendable static func systemAuth(_ request: Request, _ engine: Engine) throws -> Response {
        let json: JSON
        do {
            json = try JSONParser.parse(request.body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        let d = GoDecoder(root: "AuthConfig")
        guard case .object = json else { throw EngineError(.invalidArgument, "invalid JSON: json: cannot unmarshal into Go value of type registry.AuthConfig") }
        let f = try d.object(json, "AuthConfig")
        let address = try d.string(f, "ServerAddress", "")
        let host = AuthHandlers.hostname(address)
        guard !host.isEmpty else { throw EngineError(.invalidArgument, "invalid registry address \"\(address)\"") }
        let shortNames = (try? ShortNames.load()) ?? ShortNames()
        let worker = try ImageWorker(engine: engine, command: "login",
                                     arguments: ["--server", host] + Engine.registryArguments(host, shortNames),
                                     environment: ["SKIFF_REGISTRY_AUTH": Base64.encode(request.body)])
        let output = worker.readOutput()
        if let error = worker.wait() { throw error }
        guard let answer = try? JSONParser.parse(output), case .object = answer else {
            throw EngineError(.internal, "login to \(host): the image worker's answer is not JSON")
        }
        if case .int(let status)? = answer["status"] {
            let message: String
            if case .string(let text)? = answer["message"] { message = text } else { message = "login to \(host) refused" }
            throw EngineError(status == 403 ? .forbidden : .unauthorized, message)
        }
        return .json(answer)
    }

    /// moby's ConvertToHostname: the address without its scheme and path; Docker Hub's index
    /// address when none is given.
    static func hostname(_ address: String) -> String {
        var text = Substring(address.isEmpty ? "docker.io" : address)
        for scheme in ["http://", "https://"] where text.hasPrefix(scheme) { text = text.dropFirst(scheme.count) }
        return String(text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }
}

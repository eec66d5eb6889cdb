import Images
import Platform

/// `GET /distribution/{name}/json` (moby's `DistributionInspect`): the registry's descriptor of
/// the reference's manifest and the platforms it offers, read by the image worker
/// (`skiff-image distribution-inspect`) with the registry's settings and the client's
/// `X-Registry-Auth`; nothing is pulled.
enum DistributionHandlers {
    @Sendable static func distributionInspect(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let shortNames = (try? ShortNames.load()) ?? ShortNames()
        let reference: Reference
        do {
            // A short name resolves as a pull's first candidate does.
            guard let first = try shortNames.candidates(for: name).first else {
                throw EngineError(.invalidArgument, "invalid reference format")
            }
            reference = first.withDefaultTag
        } catch let error as ImageError {
            throw EngineError(.invalidArgument, error.message)
        }
        if shortNames.isBlocked(reference) {
            throw EngineError(.forbidden, "registry \(reference.domain) is blocked in registries.conf")
        }
        let worker = try ImageWorker(engine: engine, command: "distribution-inspect",
                                     arguments: ["--reference", reference.description]
                                        + Engine.registryArguments(reference.domain, shortNames),
                                     environment: ["SKIFF_REGISTRY_AUTH": request.header("X-Registry-Auth") ?? ""])
        let output = worker.readOutput(limit: 8 << 20)
        if let error = worker.wait() { throw error }
        guard let json = try? JSONParser.parse(output) else {
            throw EngineError(.internal, "distribution inspect \(reference): the image worker's answer is not JSON")
        }
        return .json(json)
    }
}

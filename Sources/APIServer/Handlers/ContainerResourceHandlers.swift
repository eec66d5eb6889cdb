import Platform
import Store

/// The container routes about its resources (moby's ContainerStats, ContainerUpdate): each
/// decodes the path, query and body, then calls its engine operation (`Engine+Stats.swift`,
/// `Engine+Update.swift`).
enum ContainerResourceHandlers {
    // MARK: - GET /containers/{id}/stats

    /// `stream` (default true), `one-shot` (API 1.41; only with stream=false). A stream sends a
    /// document a second; stream=false the second of two readings; one-shot the first.
    @Sendable static func containerStats(_ request: Request, _ engine: Engine) throws -> Response {
        let stream = try boolOrDefault(request, "stream", true)
        let oneShot = request.version >= APIVersion(major: 1, minor: 41) ? try boolOrDefault(request, "one-shot", false) : false
        if stream && oneShot {
            throw EngineError(.invalidArgument, "cannot have stream=true and one-shot=true")
        }
        let source = try engine.containerStats(id: request.parameters["id"] ?? "")
        let headers = [("Content-Type", "application/json")]
        if source.ended || oneShot {
            // Not running: one document of zeros, whether streamed or not (Docker's answer for
            // stream=false; a stream of it would only repeat the zeros).
            return Response(status: .ok, headers: headers, body: source.document(source.read()))
        }
        if !stream {
            return .poll(headers: headers, every: 1000) { writer in
                if !source.primed, let first = source.read() {
                    source.prime(first)
                    return true
                }
                try writer.write(source.document(source.read()))
                return false
            }
        }
        return .poll(headers: headers, every: 1000) { writer in
            if writer.isClientGone { return false }
            let sample = source.read()
            try writer.write(source.document(sample))
            // The stream ends with the container, after its document of zeros.
            return sample != nil
        }
    }

    // MARK: - POST /containers/{id}/update

    @Sendable static func containerUpdate(_ request: Request, _ engine: Engine) throws -> Response {
        let update = try UpdateRequest.decode(request.body)
        let warnings = try engine.updateContainer(id: request.parameters["id"] ?? "", update: update)
        return .json(["Warnings": warnings.isEmpty ? .null : JSON(warnings)])
    }

    /// moby's `BoolValueOrDefault`: absent or empty is `defaultValue`, else as `queryBool`.
    static func boolOrDefault(_ request: Request, _ name: String, _ defaultValue: Bool) throws -> Bool {
        guard let value = request.queryValue(name), !value.isEmpty else { return defaultValue }
        return request.queryBool(name)
    }
}

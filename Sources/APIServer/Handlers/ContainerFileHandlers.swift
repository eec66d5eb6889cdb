import Images
import Platform

/// `docker cp` and `docker export`: `HEAD`, `GET` and `PUT /containers/{id}/archive`, and
/// `GET /containers/{id}/export`, `GET /containers/{id}/changes`. They decode the request; the engine
/// (`Engine+ContainerFiles.swift`) runs the image worker, and these relay what it writes.
enum ContainerFileHandlers {
    /// The `path` parameter; moby's message (its missing space included) when there is none.
    static func path(_ request: Request) throws -> String {
        guard let path = request.queryValue("path"), !path.isEmpty else {
            throw EngineError(.invalidArgument, "bad parameter: pathcannot be empty")
        }
        return path
    }

    // MARK: - HEAD /containers/{id}/archive

    @Sendable static func containerArchiveInfo(_ request: Request, _ engine: Engine) throws -> Response {
        let stat = try engine.statContainerPath(request.parameters["id"] ?? "", path: try path(request))
        return Response(status: .ok, headers: [("X-Docker-Container-Path-Stat", Base64.encode(stat))])
    }

    // MARK: - GET /containers/{id}/archive

    @Sendable static func containerArchive(_ request: Request, _ engine: Engine) throws -> Response {
        let (stat, worker) = try engine.getContainerArchive(request.parameters["id"] ?? "", path: try path(request))
        let handed = HandedWorker(worker)
        return Response(headers: [("Content-Type", "application/x-tar"), ("X-Docker-Container-Path-Stat", Base64.encode(stat))]) { writer in
            try relayTar(handed.worker, writer)
        }
    }

    // MARK: - PUT /containers/{id}/archive

    @Sendable static func putContainerArchive(_ request: Request, _ engine: Engine) throws -> Response {
        guard let body = request.feed else { throw EngineError(.internal, "PUT /containers/{id}/archive: the route does not follow its body") }
        let path: String, id = request.parameters["id"] ?? ""
        do {
            path = try self.path(request)
            _ = try engine.currentContainer(id)
        } catch {
            body.discard()
            throw error
        }
        try engine.putContainerArchive(id, path: path, body: body,
                                       noOverwriteDirNonDir: request.queryBool("noOverwriteDirNonDir"),
                                       copyUIDGID: request.queryBool("copyUIDGID"))
        return Response(status: .ok)
    }

    // MARK: - GET /containers/{id}/export

    @Sendable static func containerExport(_ request: Request, _ engine: Engine) throws -> Response {
        let handed = HandedWorker(try engine.exportContainer(request.parameters["id"] ?? ""))
        return Response(headers: [("Content-Type", "application/octet-stream")]) { writer in
            try relayTar(handed.worker, writer)
        }
    }

    // MARK: - GET /containers/{id}/changes

    @Sendable static func containerChanges(_ request: Request, _ engine: Engine) throws -> Response {
        let changes = try engine.containerChanges(request.parameters["id"] ?? "")
        // moby's empty list is a nil slice: `null`.
        if case .array(let items) = changes, items.isEmpty { return .json(.null) }
        return .json(changes)
    }

    // MARK: - POST /commit

    @Sendable static func imageCommit(_ request: Request, _ engine: Engine) throws -> Response {
        let container = request.queryValue("container") ?? ""
        var tag: String?
        if let repository = request.queryValue("repo"), !repository.isEmpty {
            do {
                var reference = try Reference(parsing: repository)
                if let name = request.queryValue("tag"), !name.isEmpty { reference = try reference.withTag(name) }
                guard reference.digest == nil else { throw EngineError(.invalidArgument, "cannot commit with a digest reference") }
                tag = reference.withDefaultTag.normalized
            } catch let error as ImageError {
                throw EngineError(.invalidArgument, error.message)
            }
        } else if let name = request.queryValue("tag"), !name.isEmpty {
            throw EngineError(.invalidArgument, "tag is specified without a repository")
        }
        let pause = request.queryValue("pause").map { !["0", "false", "False"].contains($0) } ?? true
        let id = try engine.commitContainer(Engine.CommitRequest(
            container: container, tag: tag,
            author: request.queryValue("author").flatMap { $0.isEmpty ? nil : $0 },
            comment: request.queryValue("comment").flatMap { $0.isEmpty ? nil : $0 },
            changes: request.query["changes"] ?? [], pause: pause, config: try commitConfig(request.body)))
        return .json(["Id": .string(id)], status: .created)
    }

    /// The body of `POST /commit`: a container `Config` whose fields override the container's
    /// (moby decodes it the same way and takes an empty body as none). Checked here with the
    /// create request's Go rules, so a wrong type is the client's 400, not the worker's.
    static func commitConfig(_ body: [UInt8]) throws -> [UInt8]? {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        guard body.count <= commitConfigLimit else {
            throw EngineError(.invalidArgument, "the commit's config is over \(commitConfigLimit / 1024) KiB")
        }
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        if json == .null { return nil }
        let decoder = GoDecoder(root: "Config")
        _ = try decoder.containerConfig(try decoder.object(json, ""))
        return body
    }

    /// It travels to the image worker as an argument (one is at most 128 KiB on Linux).
    static let commitConfigLimit = 64 * 1024

    /// Copies the worker's tar to the client. A failure after the head cannot change the
    /// status: the stream is cut (the client's tar reader then reports a truncated archive).
    static func relayTar(_ worker: ImageWorker, _ writer: ResponseWriter) throws {
        try ImageWorker.relay(worker, to: writer)
        if let error = worker.wait() {
            if !writer.committed { throw error }
            throw EngineError(.internal, "container archive cut short: \(error.message)")
        }
    }
}

/// A worker started by the handler (so that its failure before any output is the response's
/// status) and handed to the response's stream, which alone uses it from then on.
final class HandedWorker: @unchecked Sendable {
    let worker: ImageWorker
    init(_ worker: ImageWorker) { self.worker = worker }
}

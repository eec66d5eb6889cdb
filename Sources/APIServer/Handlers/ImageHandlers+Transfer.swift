import Images
import Platform
import Store

/// The image routes that move images in and out: pull and import (ImageCreate), load, push,
/// save (ImageGet, ImageGetAll). They decode the request; the work runs in the image worker,
/// started by the engine (`Engine+ImageTransfer.swift`), and these relay its output.
extension ImageHandlers {
    // MARK: - POST /images/create (pull, import)

    @Sendable static func imageCreate(_ request: Request, _ engine: Engine) throws -> Response {
        let fromImage = request.queryValue("fromImage") ?? ""
        let fromSource = request.queryValue("fromSrc") ?? ""
        if !fromImage.isEmpty { return try pull(request, engine, fromImage) }
        guard !fromSource.isEmpty else { throw EngineError(.invalidArgument, "fromImage or fromSrc is required") }
        return try importRootfs(request, engine, fromSource)
    }

    static func pull(_ request: Request, _ engine: Engine, _ fromImage: String) throws -> Response {
        let shortNames: ShortNames
        var candidates: [Reference]
        do {
            shortNames = try ShortNames.load()
            // moby drops one trailing ':' (what `docker pull -a name` sends).
            let name = fromImage.hasSuffix(":") ? String(fromImage.dropLast()) : fromImage
            candidates = try shortNames.candidates(for: name)
            // The tag parameter replaces a tag in fromImage, as moby does; a digest goes after @.
            if let tag = request.queryValue("tag"), !tag.isEmpty {
                candidates = try candidates.map { candidate throws(ImageError) in
                    let bare = try Reference(parsing: candidate.name)
                    return (try? Digest(parsing: tag)) != nil ? try bare.withDigest(tag) : try bare.withTag(tag)
                }
            }
            candidates = candidates.map(\.withDefaultTag)
        } catch {
            throw EngineError(error.code == .invalidArgument ? .invalidArgument : .internal, error.message)
        }
        var platform: String?
        if let value = request.queryValue("platform"), !value.isEmpty {
            let parts = value.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 3, parts.allSatisfy({ !$0.isEmpty }) else {
                throw EngineError(.invalidArgument, "invalid platform \"\(value)\": want os[/arch[/variant]]")
            }
            // An OS alone means this machine's CPU.
            platform = parts.count == 1 ? value + "/" + Descriptor.Platform.hostArchitecture : value
        }
        let auth = request.header("X-Registry-Auth") ?? ""
        let wantedPlatform = platform
        let references = candidates
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            var lastError: EngineError?
            for (i, candidate) in references.enumerated() {
                if shortNames.isBlocked(candidate) {
                    lastError = EngineError(.forbidden, "registry \(candidate.domain) is blocked in registries.conf")
                    continue
                }
                // The registry table's mirrors first, then its location (registries.conf).
                let sources: [ShortNames.PullSource]
                do {
                    sources = try shortNames.pullSources(for: candidate)
                } catch let error as ImageError {
                    throw EngineError(.invalidArgument, error.message)
                }
                for (j, source) in sources.enumerated() {
                    let worker = try engine.startPull(source.reference, name: candidate, shortNames: shortNames,
                                                      platform: wantedPlatform, auth: auth)
                    try ImageWorker.relay(worker, to: writer)
                    guard let error = worker.wait() else {
                        ImageEvents.recordReference(engine, "pull", candidate)
                        return
                    }
                    // Before any output, a further source or search registry may have it; the
                    // primary location's failure is the one reported.
                    if !writer.committed && (j < sources.count - 1 || i < references.count - 1) {
                        if !source.isMirror || lastError == nil { lastError = error }
                        continue
                    }
                    try report(source.isMirror ? (lastError ?? error) : error, writer)
                    return
                }
            }
            if let lastError { try report(lastError, writer) }
        }
    }

    /// An error from a message stream: the response's status before any output, else an
    /// `errorDetail` message.
    static func report(_ error: EngineError, _ writer: ResponseWriter) throws {
        guard writer.committed else { throw error }
        try writer.write(JSON.object([JSON.Member("errorDetail", .object([JSON.Member("message", .string(error.message))])),
                                      JSON.Member("error", .string(error.message))]).bytes + [0x0A])
    }

    static func importRootfs(_ request: Request, _ engine: Engine, _ source: String) throws -> Response {
        guard source == "-" else {
            throw EngineError(.invalidArgument, "importing from a URL is not supported: send the tarball as the request body with fromSrc=-")
        }
        var tag: String?
        if let repository = request.queryValue("repo"), !repository.isEmpty {
            do {
                var reference = try Reference(parsing: repository)
                if let tag = request.queryValue("tag"), !tag.isEmpty { reference = try reference.withTag(tag) }
                guard reference.digest == nil else { throw EngineError(.invalidArgument, "cannot import with a digest reference") }
                tag = reference.withDefaultTag.normalized
            } catch let error as ImageError {
                throw EngineError(.invalidArgument, error.message)
            }
        }
        let changes = request.query["changes"] ?? []
        var scratch = ImageConfig.Container()
        do {
            try ImageChanges.apply(changes, to: &scratch)
        } catch {
            throw EngineError(.invalidArgument, error.message)
        }
        let message = request.queryValue("message").flatMap { $0.isEmpty ? nil : $0 }
        guard let body = request.spooled, body.size > 0 else { throw EngineError(.invalidArgument, "the request body is empty: send the rootfs tarball") }
        let name = tag
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            let worker = try engine.startImport(body, tag: name, changes: changes, message: message)
            let output = ImageEvents.Output()
            if try ImageWorker.relayMessages(worker, to: writer, observer: output) { output.record(engine, "import") }
        }
    }

    // MARK: - POST /images/load

    @Sendable static func imageLoad(_ request: Request, _ engine: Engine) throws -> Response {
        guard let body = request.spooled, body.size > 0 else {
            throw EngineError(.invalidArgument, "the request body is empty: send an image archive (docker save, OCI layout)")
        }
        let quiet = request.queryBool("quiet")
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            let worker = try engine.startLoad(body, quiet: quiet)
            let output = ImageEvents.Output()
            if try ImageWorker.relayMessages(worker, to: writer, observer: output) { output.record(engine, "load") }
        }
    }

    // MARK: - POST /images/{name}/push

    @Sendable static func imagePush(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["name"] ?? ""
        let targets: [(id: String, reference: Reference)]
        let shortNames = (try? ShortNames.load()) ?? ShortNames()
        do {
            var reference = try Reference(parsing: name)
            if let tag = request.queryValue("tag"), !tag.isEmpty { reference = try reference.withTag(tag) }
            targets = try engine.imagesToPush(reference)
        } catch let error as ImageError {
            throw EngineError(.invalidArgument, error.message)
        } catch let error as StoreError {
            throw EngineError(.invalidArgument, error.message)
        }
        let auth = request.header("X-Registry-Auth") ?? ""
        let pushes = targets
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            for target in pushes {
                let worker = try engine.startPush(imageID: target.id, as: target.reference, shortNames: shortNames, auth: auth)
                guard try ImageWorker.relayMessages(worker, to: writer) else { return }
                ImageEvents.recordReference(engine, "push", target.reference)
            }
        }
    }

    // MARK: - GET /images/{name}/get, GET /images/get

    @Sendable static func imageGet(_ request: Request, _ engine: Engine) throws -> Response {
        try saveResponse([request.parameters["name"] ?? ""], engine)
    }

    @Sendable static func imageGetAll(_ request: Request, _ engine: Engine) throws -> Response {
        let names = request.query["names"] ?? []
        guard !names.isEmpty else { throw EngineError(.invalidArgument, "no images named: give names=...") }
        return try saveResponse(names, engine)
    }

    /// `docker save`: Docker 25's archive layout with the layer blobs as pulled or loaded.
    static func saveResponse(_ names: [String], _ engine: Engine) throws -> Response {
        let saved = try engine.imagesToSave(names)
        return Response(headers: [("Content-Type", "application/x-tar")]) { writer in
            try ImageArchive.save(saved, to: ResponseSink(writer))
        }
    }
}

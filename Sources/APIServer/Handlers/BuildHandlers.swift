import Images
import Platform

/// `POST /build` (moby's `ImageBuild`), `POST /build/prune`, `POST /build/cancel`: the query
/// decoded and checked here, the build run by `Engine.build` (`Builder.swift`). The answer is
/// moby's JSON message stream: `stream` lines, `aux` with the image id, and an `errorDetail`
/// for a failure after the first message (before it, the response's status and message).
enum BuildHandlers {
    @Sendable static func imageBuild(_ request: Request, _ engine: Engine) throws -> Response {
        var build = Engine.BuildRequest()
        if let dockerfile = request.queryValue("dockerfile"), !dockerfile.isEmpty { build.dockerfile = dockerfile }
        if let remote = request.queryValue("remote"), !remote.isEmpty {
            throw EngineError(.invalidArgument, "remote build contexts (\(remote)) are not supported: send the context as a tar")
        }
        for tag in request.query["t"] ?? [] where !tag.isEmpty {
            do {
                let reference = try Reference(parsing: tag)
                guard reference.digest == nil else { throw EngineError(.invalidArgument, "invalid reference format: \(tag)") }
                build.tags.append(reference.withDefaultTag.normalized)
            } catch let error as ImageError {
                throw EngineError(.invalidArgument, "invalid reference format: \(error.message)")
            }
        }
        build.buildArgs = try stringMap(request.queryValue("buildargs"), "buildargs").mapValues { $0 }
        build.labels = try stringMap(request.queryValue("labels"), "labels").mapValues { $0 ?? "" }
        build.target = request.queryValue("target") ?? ""
        build.quiet = request.queryBool("q")
        build.noCache = request.queryBool("nocache")
        build.remove = request.queryValue("rm").map { _ in request.queryBool("rm") } ?? true
        build.forceRemove = request.queryBool("forcerm")
        // What the classic builder here does not do, refused by name rather than ignored.
        if request.queryBool("squash") {
            throw EngineError(.invalidArgument, "squash is not supported by this builder: build without --squash")
        }
        if request.queryBool("pull") {
            throw EngineError(.invalidArgument, "pull is not supported by this builder: pull the base image first, then build without --pull")
        }
        if let mode = request.queryValue("networkmode"), !["", "default", "bridge"].contains(mode) {
            throw EngineError(.invalidArgument, "networkmode \(mode) is not supported by this builder: RUN steps use the default network")
        }
        if let hosts = request.queryValue("extrahosts"), !hosts.isEmpty, hosts != "[]", hosts != "null" {
            throw EngineError(.invalidArgument, "extrahosts is not supported by this builder")
        }
        if let from = request.queryValue("cachefrom"), !from.isEmpty, from != "[]", from != "null" {
            throw EngineError(.invalidArgument, "cachefrom is not supported by this builder: the local build cache is used")
        }
        if let platform = request.queryValue("platform"), !platform.isEmpty,
           platform != "linux/\(Descriptor.Platform.hostArchitecture)", platform != "linux" {
            throw EngineError(.invalidArgument, "platform \(platform) is not supported by this builder: only linux/\(Descriptor.Platform.hostArchitecture) is built")
        }
        guard let body = request.spooled else {
            throw EngineError(.invalidArgument, "the request body is empty: send the build context as a tar")
        }
        let options = build
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            do {
                _ = try engine.build(options, context: body) { message in
                    guard !writer.isClientGone else {
                        throw EngineError(.unavailable, "build cancelled: the client went away")
                    }
                    try writer.write(message.bytes + [0x0A])
                }
            } catch let error as Builder.RunFailure {
                guard writer.committed else { throw EngineError(.internal, error.message) }
                try writer.write(JSON.object([
                    JSON.Member("errorDetail", .object([JSON.Member("code", .int(Int64(error.exitCode))),
                                                        JSON.Member("message", .string(error.message))])),
                    JSON.Member("error", .string(error.message))]).bytes + [0x0A])
            } catch let error as EngineError {
                try ImageHandlers.report(error, writer)
            }
        }
    }

    /// A query value holding a JSON object of strings (`buildargs`, `labels`); a null value is
    /// kept as nil (a build arg then takes the environment's).
    static func stringMap(_ text: String?, _ name: String) throws -> [String: String?] {
        guard let text, !text.isEmpty else { return [:] }
        let json: JSON
        do { json = try JSONParser.parse(Array(text.utf8)) } catch {
            throw EngineError(.invalidArgument, "\(name): invalid JSON: \(error.message)")
        }
        if json == .null { return [:] }
        guard case .object(let members) = json else { throw EngineError(.invalidArgument, "\(name): expected a JSON object") }
        var result: [String: String?] = [:]
        for member in members {
            switch member.value {
            case .string(let value): result[member.key] = .some(value)
            case .null: result[member.key] = .some(nil)
            default: throw EngineError(.invalidArgument, "\(name): the value of \(member.key) is not a string")
            }
        }
        return result
    }

    /// `POST /build/prune`: the build cache's entries dropped (the images stay, as images).
    @Sendable static func buildPrune(_ request: Request, _ engine: Engine) throws -> Response {
        let count = BuildCache(directory: engine.config.skiffRoot + "/build-cache").prune()
        _ = count
        return .json(["CachesDeleted": .null, "SpaceReclaimed": 0])
    }

    /// `POST /build/cancel`: BuildKit's; the classic builder stops when its client goes away.
    @Sendable static func buildCancel(_ request: Request, _ engine: Engine) throws -> Response {
        throw EngineError(.notFound, "build cancel is a BuildKit operation: a classic build stops when its client disconnects")
    }
}
